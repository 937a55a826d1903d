"""SWAP: how many distinct sample-wise ReLU activation patterns a network produces, regularised
by model size.

Peng, Song, Fayek, Ciesielski & Chang, "SWAP-NAS: Sample-Wise Activation Patterns for
Ultra-fast NAS", ICLR 2024 (spotlight). Official code: ``pym1024/SWAP`` (``src/metrics/swap.py``,
``src/utils/utilities.py``, ``correlation.py``). Written from the paper and that code; no code is
copied.

Per architecture (``score``), one call is one repeat of the official loop:

* **Weights.** Re-drawn as the official ``network_weight_gaussian_init``: Conv2d and Linear
  weights ~ N(0, 1), their biases 0; BatchNorm2d / GroupNorm weights 1, biases 0 (affine-free
  norm layers are left alone; the official code would fail on them). The draws come from a
  CPU ``torch.Generator`` seeded from ``(seed, batch_index)``, so each harness batch is one
  independent repeat (the official script averages ``--repeats 32`` re-initialisations of one
  batch; here the harness averages over batches and seeds).
* **Input.** The first ``INPUT_SAMPLES`` = 16 images of the harness batch (the official
  ``--input_samples 16`` CIFAR-10 training images). The network stays in training mode, as in
  the official script (it never calls ``eval()``): BatchNorm uses the batch's statistics.
* **Patterns.** Every ``nn.ReLU`` module (``isinstance``, as the official hook; wrappers whose
  class name merely contains "ReLU" are not hooked) whose input is 4-D records
  ``sign(output)``, i.e. 1 where the unit fires and 0 where it does not. The records of all
  hooked calls are concatenated per image into an ``N x D`` binary matrix ``A``.
* ``swap`` = the number of distinct columns of ``A`` (distinct rows of ``A^T``: the official
  ``torch.unique(activations.T, dim=0).size(0)``): how many different on/off patterns over the
  ``N`` images the ``D`` units show. A network with no hooked ReLU scores 0.
* ``params_k``: the official ``count_parameters``: parameters whose name does not contain
  ``"auxiliary"``, in thousands (used only by the regularisation below).

**The score is raw SWAP** (version 2). The paper's regularised score,
``SWAP_reg = SWAP · exp(-(Θ - μ)² / σ)`` with ``Θ = params_k`` (the official
``cal_regular_factor``), needs per-space constants ``μ, σ`` that neither the official code nor
the paper's text at hand gives: ``correlation.py``, the code's only experiment script, builds
``SWAP(...)`` with the default ``regular=False``. Version 1 invented them (the population's
parameter-count mean and variance), which took Kendall τ on ``nb201-c10-1k`` from 0.643 (raw,
from its own stored components) down to 0.294; no invented constant is used any more.
``regular_factor`` is kept, tested, for the day the paper's constants for a space are known;
a regularised variant would then be its own estimator with those constants in its file.

Published vs. ours (``PUBLISHED``, shown on the estimator page): the paper reports Spearman ρ
0.90 for *regularised* SWAP on NAS-Bench-201 CIFAR-100 (abstract); the figure to compare ours
with is its unregularised one. Other differences: one repeat per harness batch instead of 32;
the 1,000-cell samples.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from harness.api import ArchContext, Paper, Published, estimator
from harness.toolkit import gaussian_init_, generator_for

INPUT_SAMPLES = 16

PUBLISHED = (
    Published("spearman", 0.90, "nb201-c100", "NAS-Bench-201 (the paper's sample)",
              "SWAP-NAS (ICLR 2024), abstract",
              "the paper's figure is regularised with constants it does not publish; ours is raw "
              "SWAP; one Gaussian re-initialisation per batch instead of 32; 16 images"),
)

PAPER = Paper(
    title="SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS",
    url="https://openreview.net/forum?id=tveiUXU2aa",
    bibtex="""@inproceedings{peng2024swapnas,
  title={{SWAP}-{NAS}: Sample-Wise Activation Patterns for Ultra-fast {NAS}},
  author={Peng, Yameng and Song, Andy and Fayek, Haytham M. and Ciesielski, Vic and
          Chang, Xiaojun},
  booktitle={The Twelfth International Conference on Learning Representations (ICLR)},
  year={2024},
  url={https://openreview.net/forum?id=tveiUXU2aa}
}""",
)


def count_distinct_patterns(codes: np.ndarray) -> int:
    """Distinct columns of the ``N x D`` binary matrix ``codes`` (``N`` images, ``D`` units)."""
    if codes.size == 0:
        return 0
    packed = np.packbits(np.ascontiguousarray(codes.T, dtype=bool), axis=1)  # D x ceil(N/8)
    rows = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1])))
    return int(np.unique(rows).shape[0])


def params_in_thousands(net: nn.Module) -> float:
    """The official ``count_parameters``: non-"auxiliary" parameters, in thousands."""
    return float(sum(p.numel() for n, p in net.named_parameters() if "auxiliary" not in n)) / 1e3


def regular_factor(params_k: float, mu: float, sigma: float) -> float:
    """The paper's ``exp(-(Θ - μ)² / σ)`` (the official ``cal_regular_factor``)."""
    return math.exp(-((params_k - mu) ** 2) / sigma)


@estimator(
    name="swap",
    kind="zero-shot",
    idea="Number of distinct on/off patterns of the ReLU units over 16 images of a "
         "Gaussian-initialised network (raw SWAP: the paper's size regularisation needs "
         "constants it does not publish).",
    paper=PAPER,
    published=PUBLISHED,
    version="2",
    needs_images=True,
    data_independent=False,
)
def score(ctx: ArchContext) -> float:
    net = ctx.build()  # training mode, as the official script leaves it
    gaussian_init_(net, generator_for("swap", ctx.seed, ctx.batch_index))
    x, _ = ctx.batch
    x = x[:INPUT_SAMPLES]
    codes: list[np.ndarray] = []

    def hook(module, inputs, output) -> None:
        if isinstance(inputs, tuple) and inputs[0].dim() == 4:
            # sign() of a ReLU output is 1 where it fires, 0 elsewhere; taken now, before any
            # later in-place op could touch the tensor.
            codes.append((output.detach() > 0).reshape(output.shape[0], -1).cpu().numpy())

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return float(count_distinct_patterns(np.concatenate(codes, axis=1)) if codes else 0)
