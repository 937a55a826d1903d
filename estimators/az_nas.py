"""AZ-NAS: four zero-cost components, ranked over the population and combined.

Lee & Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search", CVPR 2024.
Official code: ``cvlab-yonsei/AZ-NAS`` (``NB201/ZeroShotProxy/compute_az_nas_score.py`` for the
components, ``NB201/tss_general.ipynb`` for the aggregation and the published NAS-Bench-201
numbers). Written from the paper and that code; no code is copied.

Per architecture (``score``), one call is one draw of weights and inputs:

* **Initialisation.** Every ``Conv2d`` / ``Linear`` weight is redrawn from Kaiming-normal,
  fan-in, ReLU gain (``N(0, 2 / fan_in)``), biases 0; affine ``BatchNorm2d`` / ``GroupNorm``
  weights 1 and biases 0 (the official ``init_model(model, 'kaiming_norm_fanin')``).
* **Input.** A standard-Gaussian batch of ``BATCH_SIZE`` = 64 images of ``ctx.input_shape``:
  the official NB201 script scores ``az_nas`` on random inputs (it is not in its
  ``real_input_metrics``), with the benchmark's batch size 64. No real image is read.
* **Features.** The network runs once, in training mode (BatchNorm on batch statistics, as
  ``model.train()`` does in the official code), and ``f_0..f_L`` are the stem's output followed
  by the output of every cell (the official ``extract_cell_features``). Rule for any network:
  the output of its ``stem`` module, then of each child of its first existing ``cells`` /
  ``layers`` / ``blocks`` container, in order. For NAS-Bench-201 that is exactly the official
  list (stem + 15 normal cells + 2 residual reduction blocks = 18 maps). NB101's max-pool
  downsamplings are children of ``layers`` and so count as cells there.
* **Expressivity.** For each ``f_l`` (``B x C x H x W``), the ``C x C`` covariance of the
  channel vectors over the ``B·H·W`` positions (mean removed, divided by ``B·H·W``), its
  eigenvalues ``s``, ``p = s / sum(s)`` and ``E_l = sum -p·log(p + 1e-8)``.
  ``expressivity = sum_l E_l``.
* **Progressivity.** ``min_l (E_l - E_{l-1})``.
* **Trainability.** For each consecutive pair, from the last one down: a Rademacher (±1)
  tensor ``g_out`` shaped like ``f_l``, ``g_in = d f_l / d f_{l-1}`` applied to it (one
  vector-Jacobian product); if ``g_in`` has a larger spatial size it is ``pixel_unshuffle``-d
  by the size ratio; ``M = g_in^T g_out / (B·H_l·W_l)`` over positions (``C_in' x C_out``) and
  ``t_l = 2 - σ_max(M) - 1 / (σ_max(M) + 1e-6)``. A pair whose ``g_in`` equals ``g_out``
  exactly (an identity cell) scores ``-inf``, as in the official code.
  ``trainability = mean_l t_l``.
* **Complexity.** FLOPs: the official notebook ranks the NAS-Bench-201 API's FLOPs, which are
  multiply-accumulates of one image; ``harness.flops.count_macs`` reproduces the API's figures
  for all NB201 cells (``tests/test_nb201.py``), so complexity is ``count_macs`` of the network
  for one image of ``ctx.input_shape`` (the same number as the ``flops`` baseline).

Official-code details kept: ``+1e-8`` inside the entropy's log, ``+1e-6`` in the
trainability, ``-inf`` for identity pairs, NaN components mapped to ``-inf``. Deviations:

* the statistics (covariance, eigenvalues, SVD) are computed in float64 from the float32
  features and gradients (the official code uses float32); this only changes round-off. In
  float32 a covariance eigenvalue may come out slightly negative and make the entropy NaN
  (``-inf`` in the official code); in float64 that does not happen for any real network;
* the harness needs finite numbers, so a ``-inf`` (or NaN) component is reported as
  ``NEG_INF_SCORE`` (-1e300): below every value a real network reaches, so its rank is the
  official one, and small enough in magnitude that the harness can average thousands of them
  without overflowing to ``-inf``; ties among such architectures stay ties;
* weights, inputs and Rademacher signs come from one CPU ``torch.Generator`` seeded from
  ``(seed, batch_index)``, so each harness batch is an independent draw and no global RNG is
  touched (the official code uses the global RNG).

Aggregation (``aggregate``, once per seed over the split's population), as the official
notebook and the VKDNW authors' re-implementation do::

    az_nas = sum over c in (expressivity, progressivity, trainability, complexity)
                 of  log( rank_c / N )

``rank_c`` is the ascending rank of component ``c`` (``scipy.stats.rankdata``, method
``average``: tied values share their mean rank); ``N`` the population size. Higher is
predicted better. A component that failed for an architecture (NaN in the population) is
ranked like ``-inf``: below every valid value, tied with the other failures at their mean rank
(the official code maps NaN to ``-inf`` before ranking). The result depends only on the
components' values; it is deterministic.

Published vs. ours (``PUBLISHED``, shown on the estimator page): the
official notebook reports Kendall τ 0.741 / Spearman ρ 0.913 over all 15,625 NB201 cells on
CIFAR-10 test accuracy (one seed, GPU, float32); VKDNW's Table 1 re-runs AZ-NAS at τ 0.712 on
the 9,445 unique cells. Our ``nb201-c10-1k`` is a 1,000-cell sample: τ over a sample is an
unbiased estimate of the population τ but has a sampling spread of roughly ±0.02, and our
ranks use a 1,000-cell population (the aggregation is over the population scored).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy import stats
from torch import nn

from harness.api import ArchContext, Paper, Population, Published, estimator
from harness.flops import count_macs
from harness.toolkit import generator_for, kaiming_normal_fanin_

BATCH_SIZE = 64
ENTROPY_EPS = 1e-8
TRAINABILITY_EPS = 1e-6
#: How a ``-inf`` / NaN component of the official code is reported (finite, lowest rank; far
#: from -float max so that sums over batches and seeds stay finite).
NEG_INF_SCORE = -1e300
COMPONENTS = ("expressivity", "progressivity", "trainability", "complexity")
SHARED_KEY = "az_nas.components/v1"
#: Containers whose children are the network's cells, looked up in this order.
CELL_CONTAINERS = ("cells", "layers", "blocks")

PUBLISHED = (
    Published("kendall", 0.741, "nb201-c10", "all 15,625 cells",
              "cvlab-yonsei/AZ-NAS, NB201/tss_general.ipynb (the notebook's output)",
              "one seed on a GPU; ranks over all 15,625 cells, ours over the 1,000 scored (a "
              "1,000-cell sample's τ spreads by about ±0.02)"),
    Published("spearman", 0.913, "nb201-c10", "all 15,625 cells",
              "cvlab-yonsei/AZ-NAS, NB201/tss_general.ipynb (the notebook's output)",
              "as above"),
    Published("kendall", 0.712, "nb201-c10", "the 9,445 unique cells",
              "VKDNW (CVPR 2025), Table 1, re-running AZ-NAS",
              "a re-run by another group on the de-duplicated cells"),
    Published("spearman", 0.892, "nb201-c10", "the 9,445 unique cells",
              "VKDNW (CVPR 2025), Table 1, re-running AZ-NAS", "as above"),
)

PAPER = Paper(
    title="AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search",
    url="https://openaccess.thecvf.com/content/CVPR2024/html/Lee_AZ-NAS_Assembling_Zero-Cost_"
        "Proxies_for_Network_Architecture_Search_CVPR_2024_paper.html",
    bibtex="""@inproceedings{lee2024aznas,
  title={AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search},
  author={Lee, Junghyup and Ham, Bumsub},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern
             Recognition (CVPR)},
  pages={5893--5903},
  year={2024}
}""",
)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def cell_modules(net: nn.Module) -> list[nn.Module]:
    """``[stem, cell_1, ..., cell_L]``: the modules whose outputs are the cell features.

    Raises:
        ValueError: if the network has no ``stem`` or no cell container.
    """
    stem = getattr(net, "stem", None)
    container = next((getattr(net, a) for a in CELL_CONTAINERS
                      if isinstance(getattr(net, a, None), (nn.ModuleList, nn.Sequential))),
                     None)
    if not isinstance(stem, nn.Module) or container is None:
        raise ValueError(
            "az_nas needs the cell features: a `stem` module and a `cells`, `layers` or "
            "`blocks` container (nn.Sequential / nn.ModuleList) of cells; this network has "
            "neither."
        )
    return [stem, *container]


def cell_features(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The outputs of :func:`cell_modules` for input ``x`` (graph kept, in forward order).

    A module called several times contributes each call, in call order.
    """
    feats: list[torch.Tensor] = []

    def hook(module, inputs, output):
        feats.append(output)

    handles = [m.register_forward_hook(hook) for m in cell_modules(net)]
    try:
        net(x)
    finally:
        for h in handles:
            h.remove()
    return feats


def feature_entropy(feat: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalues of the channel covariance of ``feat``.

    ``feat`` is ``B x C x H x W`` (or ``B x C``). Returns NaN when the covariance is zero
    (``0 / 0``), as the official code would.
    """
    f = feat.detach().to(torch.float64)
    c = f.shape[1]
    f = f.movedim(1, -1).reshape(-1, c)
    f = f - f.mean(dim=0, keepdim=True)
    cov = f.t() @ f / f.shape[0]
    s = torch.linalg.eigvalsh(cov)
    p = s / s.sum()
    return float((-p * torch.log(p + ENTROPY_EPS)).sum())


def pair_trainability(g_out: torch.Tensor, g_in: torch.Tensor) -> float:
    """``2 - σ_max - 1/(σ_max + 1e-6)`` of the position-averaged ``g_in^T g_out`` (float64).

    Returns ``-inf`` when ``g_in`` equals ``g_out`` exactly (an identity map).
    """
    if g_out.shape == g_in.shape and torch.equal(g_in, g_out):
        return -math.inf
    if g_out.dim() == 4 and g_out.shape[2:] != g_in.shape[2:]:
        stride = g_in.shape[2] // g_out.shape[2]
        g_in = nn.functional.pixel_unshuffle(g_in, stride)
    co, ci = g_out.shape[1], g_in.shape[1]
    go = g_out.to(torch.float64).movedim(1, -1).reshape(-1, co)
    gi = g_in.to(torch.float64).movedim(1, -1).reshape(-1, ci)
    mat = gi.t() @ go / go.shape[0]
    smax = float(torch.linalg.svdvals(mat).max())
    return 2.0 - smax - 1.0 / (smax + TRAINABILITY_EPS)


def finite_or_lowest(value: float) -> float:
    """``value``, or :data:`NEG_INF_SCORE` for ``-inf`` / NaN (the official ``-inf``)."""
    return float(value) if math.isfinite(value) else NEG_INF_SCORE


def components_of(ctx: ArchContext) -> dict[str, float]:
    """The four AZ-NAS components of ``ctx`` (memoised per context under :data:`SHARED_KEY`)."""
    return dict(ctx.shared(SHARED_KEY, lambda: _components(ctx)))


def _components(ctx: ArchContext) -> dict[str, float]:
    gen = generator_for("az_nas", ctx.seed, ctx.batch_index)
    net = ctx.build()  # training mode, as the official model.train()
    kaiming_normal_fanin_(net, gen)
    x = torch.randn((BATCH_SIZE, *ctx.input_shape), generator=gen).to(ctx.device)
    feats = cell_features(net, x)

    ent = np.array([feature_entropy(f) for f in feats])
    expressivity = float(np.sum(ent))
    progressivity = float(np.min(ent[1:] - ent[:-1])) if len(ent) > 1 else math.nan

    scores: list[float] = []
    for i in reversed(range(1, len(feats))):
        f_out, f_in = feats[i], feats[i - 1]
        # Rademacher signs: bernoulli(0.5) mapped to ±1, as the official code draws them.
        g_out = (torch.randint(0, 2, f_out.shape, generator=gen, dtype=f_out.dtype) * 2 - 1)
        g_out = g_out.to(f_out.device)
        if not (f_out.requires_grad and f_in.requires_grad):
            g_in = torch.zeros_like(f_in)
        else:
            (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True,
                                          allow_unused=True)
            # A cell whose output does not depend on its input: the gradient is zero.
            g_in = torch.zeros_like(f_in) if g_in is None else g_in
        scores.append(pair_trainability(g_out.detach(), g_in.detach()))
    trainability = float(np.mean(scores)) if scores else math.nan

    complexity = float(count_macs(ctx.build(), (1, *ctx.input_shape)))
    return {
        "expressivity": finite_or_lowest(expressivity),
        "progressivity": finite_or_lowest(progressivity),
        "trainability": finite_or_lowest(trainability),
        "complexity": complexity,
    }


def ranks_lowest_nan(values: np.ndarray) -> np.ndarray:
    """Ascending average ranks (1..N) of ``values``, NaN ranked like ``-inf`` (lowest, tied)."""
    v = np.asarray(values, dtype=np.float64).copy()
    v[np.isnan(v)] = -np.inf
    return stats.rankdata(v, method="average")


def log_rank_sum(pop: Population, names: tuple[str, ...],
                 rank: Callable[[np.ndarray], np.ndarray] = ranks_lowest_nan) -> np.ndarray:
    """``sum over names of log(rank / N)`` over the population (float64, length N)."""
    n = len(pop)
    total = np.zeros(n, dtype=np.float64)
    if n == 0:
        return total
    for name in names:
        total += np.log(rank(pop.components[name]) / n)
    return total


def aggregate(pop: Population) -> np.ndarray:
    """AZ-NAS's non-linear rank aggregation (see the module docstring)."""
    return log_rank_sum(pop, COMPONENTS)


@estimator(
    name="az_nas",
    kind="zero-shot",
    idea="Sum of log normalised ranks of expressivity (feature-covariance entropy), "
         "progressivity, trainability (Jacobian spectral norm near 1) and FLOPs.",
    paper=PAPER,
    published=PUBLISHED,
    version="1",
    needs_images=False,
    data_independent=False,
    components=COMPONENTS,
    aggregate=aggregate,
)
def score(ctx: ArchContext) -> dict[str, float]:
    return components_of(ctx)
