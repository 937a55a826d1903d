"""ZiCo: inverse coefficient of variation of the weight gradients across mini-batches.

Definition, following the authors' ``ZeroShotProxy/compute_zico.py`` (SLDGroup/ZiCo; the copy in
HamsterMimi/MeCo ``zero-cost-nas/foresight/pruners/measures/zico.py`` is identical in substance)::

    ZiCo = sum_{layers l}  log( sum_{theta in l, std(theta) != 0}  mean|g_theta| / std(g_theta) )

* Layers are the ``nn.Conv2d`` and ``nn.Linear`` modules (``named_modules()``, so a module
  registered twice counts once); only their ``weight`` gradients enter, not biases.
* ``g_theta`` is the list of gradients recorded after each mini-batch; ``mean|.|`` and ``std``
  (population std, ``ddof=0``) are taken element-wise over that list.
* Mini-batches: the reference's NAS runs use 2 data-loader batches (``--maxbatch 2``); the
  harness hands one batch of N (64) images, which is cut in two halves ``[0, N//2)`` and
  ``[N//2, N)``, as the MeCo repository's port does. Two is the smallest count for which a
  standard deviation over mini-batches exists; N must be at least 2.
* Loss: mean cross-entropy of each half. Network in training mode (BN uses batch statistics).
* As in the reference, gradients are NOT zeroed between the mini-batches: ``loss.backward()``
  accumulates, so the recorded list is ``[g1, g1 + g2]`` (the reference snapshots ``.grad``
  after each backward without calling ``zero_grad``). The paper's formula is written with
  per-batch gradients; we reproduce the code that produced its published numbers.
* Zero std: parameters whose recorded gradients are all equal (std exactly 0) are left out of
  the layer's sum; a layer whose sum is then 0 (e.g. no gradient reaches it, or every std is 0)
  contributes nothing instead of ``log 0``. A layer that never receives a gradient
  (``.grad is None``: not used in the forward) is skipped, as the MeCo port does.
* The statistics are computed in double precision from the float32 gradients (the reference
  uses float32 NumPy; the std-is-zero test is exact either way).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harness.api import ArchContext, Paper, cross_entropy, estimator
from harness.papers import VKDNW_TABLE_1

N_MINIBATCHES = 2

PAPER = Paper(
    title="ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients",
    url="https://arxiv.org/abs/2301.11300",
    bibtex="""@inproceedings{li2023zico,
  title={ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients},
  author={Li, Guihong and Yang, Yuedong and Bhardwaj, Kartikeya and Marculescu, Radu},
  booktitle={International Conference on Learning Representations (ICLR)},
  year={2023},
  url={https://openreview.net/forum?id=rwo-ls5GqGn}
}""",
)


def zico_from_gradients(per_layer: list[torch.Tensor]) -> float:
    """The ZiCo sum from recorded gradients.

    Args:
        per_layer: one tensor per layer of shape ``(n_recordings, n_weights)``: the flattened
            weight gradient recorded after each mini-batch.

    Returns:
        ``sum_l log(sum_{std != 0} mean|g| / std)``, skipping layers whose inner sum is 0.
    """
    total = 0.0
    for g in per_layer:
        g = g.to(torch.float64)
        std = g.std(dim=0, unbiased=False)
        mean_abs = g.abs().mean(dim=0)
        keep = std != 0
        inner = float((mean_abs[keep] / std[keep]).sum())
        if inner != 0.0:
            total += math.log(inner)
    return total


PUBLISHED = (
    VKDNW_TABLE_1.figure("kendall", 0.607, "nb201-c10", method="ZiCo"),
    VKDNW_TABLE_1.figure("spearman", 0.802, "nb201-c10", method="ZiCo"),
)


@estimator(
    name="zico",
    kind="zero-shot",
    idea="Sum over conv/linear layers of the log of the summed mean/std ratio of the weight "
         "gradients across two mini-batches (inverse coefficient of variation).",
    paper=PAPER,
    published=PUBLISHED,
    version="1",
    needs_images=True,
    data_independent=False,
)
def score(ctx: ArchContext) -> float:
    net = ctx.build()  # training mode, as in the reference (network.train())
    x, y = ctx.batch
    n = x.shape[0]
    if n < N_MINIBATCHES:
        raise ValueError(f"zico needs a batch of at least {N_MINIBATCHES} images, got {n}")

    layers = [m for _, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    recorded: list[list[torch.Tensor]] = [[] for _ in layers]
    for k in range(N_MINIBATCHES):
        lo, hi = k * n // N_MINIBATCHES, (k + 1) * n // N_MINIBATCHES
        loss = cross_entropy(net(x[lo:hi]), y[lo:hi])
        # No zero_grad: the reference lets gradients accumulate across mini-batches.
        loss.backward()
        for rec, m in zip(recorded, layers, strict=True):
            if m.weight.grad is not None:
                # A copy: .grad keeps accumulating in place on the next backward.
                rec.append(m.weight.grad.detach().flatten().to(torch.float64, copy=True))
    per_layer = [torch.stack(rec) for rec in recorded if len(rec) == N_MINIBATCHES]
    return zico_from_gradients(per_layer)
