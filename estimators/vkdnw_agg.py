"""VKDNW_agg: VKDNW's ranks combined with those of four other zero-cost proxies.

Tybl & Neumann, CVPR 2025 (see :mod:`estimators.vkdnw`), the paper's ``VKDNW_agg`` (Eq. 15:
``log`` of the product of the ranks of V, J, E, T and F). Official code: ``ondratybl/VKDNW``,
``NB201/tss_utils.py`` (``get_scores``, column ``vkdnw_comb_rank``), with the components from
``NB201/tss_general_.py``. Written from the paper and that code; no code is copied.

Components per architecture (``score``):

* ``vkdnw`` (V): ``VKDNW_single`` exactly as the ``vkdnw`` estimator: read with
  ``ctx.estimate("vkdnw")``, the harness's shared pass for another estimator's value (computed
  once when both run; this file imports no other submission);
* ``jacov`` (J): the Jacobian-covariance score of the VKDNW repository
  (``compute_jacov_score.py``): ``-sum(log(λ + 1e-5) + 1/(λ + 1e-5))`` over the eigenvalues of
  the correlation matrix of the per-image input gradients of the summed logits, on the **real**
  batch (``jacov`` is one of the official ``real_input_metrics``), with the network in training
  mode **after the Kaiming-normal fan-in initialisation** the official code applies. That
  initialisation is why this is not the harness's ``jacob_cov`` (default initialisation) and
  cannot reuse its shared pass. A degenerate batch (an image with a constant Jacobian, where
  the official code gets NaN) scores like ``jacob_cov``'s fully correlated batch, the lowest
  value of the formula;
* ``expressivity`` (E), ``trainability`` (T), ``complexity`` (F = FLOPs): the AZ-NAS
  components, exactly as the ``az_nas`` estimator computes them (``ctx.estimate("az_nas")``).

Aggregation (``aggregate``, once per seed over the split's population), as the official
``vkdnw_comb_rank``::

    vkdnw_agg = log(dense_rank(vkdnw)) + sum over c in (expressivity, trainability,
                                                        complexity, jacov) of log(rank(c))

``dense_rank`` is the official ``rank(method='dense')`` of the (layer count, entropy) pair, i.e.
of the ``vkdnw`` value (equal values share a rank, the next value gets the next integer);
``rank`` is the pandas default, ``average`` (tied values share their mean rank). Ranks are
ascending (higher value, higher rank); higher ``vkdnw_agg`` is predicted better. The official
column omits AZ-NAS's ``/N``; it shifts every score by the same constant and changes no ranking,
so it is omitted here too. A failed component (NaN) ranks like ``-inf``: below every valid value,
tied with the other failures (mean rank; dense rank 1 for ``vkdnw``). Deterministic: only the
components' values enter.

Published vs. ours (``PUBLISHED``, shown on the estimator page): the paper's Table 1 (also
``table1.png`` in the official repository) reports Kendall τ 0.750 / Spearman ρ 0.919 on
NAS-Bench-201 CIFAR-10 (9,445 unique cells; the mean of 5 runs, every std below 0.02), with
AZ-NAS re-run in the same table at τ 0.712 and ``VKDNW_single`` at 0.618. Ours: 1,000-cell
``-1k`` samples (sampling spread of about ±0.02 in τ), each seed aggregated separately.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from harness.api import ArchContext, Population, Published, estimator
from harness.papers import VKDNW
from harness.toolkit import generator_for, jacobian_covariance_score, kaiming_normal_fanin_

COMPONENTS = ("vkdnw", "jacov", "expressivity", "trainability", "complexity")
JACOV_KEY = "vkdnw_agg.jacov_kaiming/v1"

PUBLISHED = (
    Published("kendall", 0.750, "nb201-c10", "the 9,445 unique cells",
              "VKDNW (CVPR 2025), Table 1",
              "ranks over the de-duplicated cells, ours over a 1,000-cell sample; each of our "
              "seeds is aggregated separately"),
    Published("spearman", 0.919, "nb201-c10", "the 9,445 unique cells",
              "VKDNW (CVPR 2025), Table 1", "as above"),
)


def jacov_kaiming(ctx: ArchContext) -> float:
    """The VKDNW repository's ``jacov`` on the real batch (memoised per context)."""
    return ctx.shared(JACOV_KEY, lambda: _jacov_kaiming(ctx))


def _jacov_kaiming(ctx: ArchContext) -> float:
    net = ctx.build()  # training mode, as the official compute_jacov_score
    kaiming_normal_fanin_(net, generator_for("jacov", ctx.seed, ctx.batch_index))
    images, _ = ctx.batch
    x = images.detach().clone().requires_grad_(True)
    out = net(x)
    (jac,) = torch.autograd.grad(out, x, grad_outputs=torch.ones_like(out))
    return jacobian_covariance_score(jac)


def _lowest_nan(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).copy()
    v[np.isnan(v)] = -np.inf
    return v


def aggregate(pop: Population) -> np.ndarray:
    """The official ``vkdnw_comb_rank`` (see the module docstring)."""
    n = len(pop)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    total = np.log(stats.rankdata(_lowest_nan(pop.components["vkdnw"]), method="dense"))
    for name in ("expressivity", "trainability", "complexity", "jacov"):
        total = total + np.log(stats.rankdata(_lowest_nan(pop.components[name]),
                                              method="average"))
    return total


@estimator(
    name="vkdnw_agg",
    kind="zero-shot",
    idea="Sum of log ranks of VKDNW_single, Jacobian covariance, AZ-NAS expressivity and "
         "trainability, and FLOPs over the population.",
    paper=VKDNW,
    published=PUBLISHED,
    version="1",
    needs_images=True,
    data_independent=False,
    components=COMPONENTS,
    aggregate=aggregate,
)
def score(ctx: ArchContext) -> dict[str, float]:
    az = ctx.estimate("az_nas")
    return {
        "vkdnw": float(ctx.estimate("vkdnw")),
        "jacov": float(jacov_kaiming(ctx)),
        "expressivity": az["expressivity"],
        "trainability": az["trainability"],
        "complexity": az["complexity"],
    }

