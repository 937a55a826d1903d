"""MeCo: minimum eigenvalue of the channel correlation matrix of every module's output.

Definition, following the authors' NAS-Bench-201 correlation script
(HamsterMimi/MeCo ``correlation/NAS_Bench_201.py``, ``get_score`` with ``measure='meco'``, the
variant behind the paper's NAS-Bench-201 numbers)::

    MeCo = sum_{modules m}  lambda_min( P_m )

* Input: ONE real training image (the script's default ``--batch_size 1`` batch from the CIFAR
  train loader; its random-input line is commented out). Here: the first image of
  ``ctx.batch``, forwarded alone, so each harness batch is a different single image.
* Network in training mode, default initialisation (``--init_w_type none``); no labels, no
  backward pass.
* Hooks: a forward hook on EVERY module of ``net.modules()`` (the reference iterates
  ``named_modules()``), containers and the network itself included, so a feature map returned by
  a container (e.g. ``ReLUConvBN`` = its inner ``Sequential`` = its BN) counts once per module
  that returns it. This rule needs no knowledge of the architecture, so it works for any
  ``nn.Module``.
* ``P_m``: the module's output for the image (``output[0]``) reshaped to ``(C, rest)`` — one row
  per channel (per feature for 2-D outputs), one column per spatial position — and
  ``P_m = corrcoef(rows)`` (Pearson, ``C x C``). NaN/inf entries (constant channels) are set to
  0, as in the reference. ``lambda_min`` is its smallest eigenvalue.
* Special cases: with one column (``Linear`` / pooled / ``Flatten`` outputs) every correlation
  is NaN, the zeroed matrix has ``lambda_min = 0``, and we add exactly 0 without building it;
  a one-row output (one channel) has ``P_m = [[1]]``. Outputs that are not tensors, or hold no
  per-sample feature (``output[0]`` 0-dimensional), are skipped. Non-finite per-module values
  are dropped before summing, as in the reference.
* Sub-sampling: none. The paper's ``MeCo_opt`` variant (8 random channels, rescaled by C/8) is
  not this estimator, so no randomness is involved.
* Numerics: the correlation matrix is symmetric, so ``eigvalsh`` gives the eigenvalues the
  reference takes as the real parts of ``linalg.eig``; both are computed in double precision
  (the reference uses float32), which only changes the round-off of eigenvalues that are 0 in
  exact arithmetic (rank-deficient matrices, e.g. 64 channels at 8x8).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.api import ArchContext, Paper, estimator

PAPER = Paper(
    title="MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum Eigenvalue of "
          "Correlation",
    url="https://proceedings.neurips.cc/paper_files/paper/2023/hash/"
        "bfa815ac6f08f4ada34fe22be054f2b9-Abstract-Conference.html",
    bibtex="""@inproceedings{jiang2023meco,
  title={MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum Eigenvalue of
         Correlation},
  author={Jiang, Tangyu and Wang, Haodi and Bie, Rongfang},
  booktitle={Advances in Neural Information Processing Systems},
  volume={36},
  year={2023}
}""",
)


def min_eig_of_correlation(feature: torch.Tensor) -> torch.Tensor:
    """Smallest eigenvalue of the Pearson correlation matrix of the rows of ``feature``.

    Args:
        feature: ``(rows, observations)``; NaN/inf correlations are set to 0 first.

    Returns:
        A 0-d double tensor.
    """
    rows, cols = feature.shape
    if cols < 2:
        # Correlations from one observation are all NaN; zeroed, the matrix is 0: lambda_min 0.
        return torch.zeros((), dtype=torch.float64, device=feature.device)
    corr = torch.corrcoef(feature.to(torch.float64)).reshape(rows, rows)
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    return torch.linalg.eigvalsh(corr).min()


@estimator(
    name="meco",
    kind="zero-shot",
    idea="Sum over all modules of the minimum eigenvalue of the Pearson correlation matrix of "
         "the module's output channels, for a single image.",
    paper=PAPER,
    version="1",
    needs_images=True,
    data_independent=False,
)
def score(ctx: ArchContext) -> float:
    net = ctx.build()  # training mode, default initialisation, as in the reference script
    x, _ = ctx.batch
    values: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs, output) -> None:
        if not isinstance(output, torch.Tensor) or output.dim() < 2:
            return
        fea = output[0].detach()
        values.append(min_eig_of_correlation(fea.reshape(fea.shape[0], -1)))

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    try:
        with torch.no_grad():
            net(x[:1])
    finally:
        for h in handles:
            h.remove()
    if not values:
        return 0.0
    v = torch.stack(values)
    return float(v[torch.isfinite(v)].sum())
