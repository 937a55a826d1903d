"""EPE-NAS: how uncorrelated the input Jacobians of same-class images are, per class.

Definition, following the authors' ``eval_score_perclass`` (VascoLopes/EPE-NAS ``search.py``) as
NASLib runs it with the labels (``naslib/predictors/pruners/measures/epe_nas.py``)::

    J_i   = d( sum_k y_ik ) / d x_i            (flattened; y = logits of the whole batch)
    P_c   = corrcoef( {J_i : label_i = c} )     (Pearson between the class's images)
    s_c   = sum_{i,j} log( |P_c[i, j]| + 1e-5 )
    EPE   = sum_{c seen} |s_c|                                      if C <= 100
    EPE   = (1 / #seen) * sum_{c, c' seen} |s_c - s_c'|,  with s_c /= n_c,   if C > 100

* ``J`` comes from one backward pass of ``ones`` through the logits of the whole batch
  (``y.backward(ones_like(y))``), network in training mode, so train-mode BatchNorm couples the
  images exactly as in the reference. ``C`` is the width of the network's output.
* Normalisation by the number of classes: only for ``C > 100`` (e.g. ImageNet16-120): each
  ``s_c`` is divided by the class's number of images ``n_c`` and the pairwise sum by the number
  of classes present in the batch. For ``C <= 100`` (CIFAR-10/100) there is none.
* Classes absent from the batch are simply not in the sums. A class with a single image has the
  scalar correlation 1 (NumPy's ``corrcoef`` of one row), so ``s_c = log(1 + 1e-5)`` for
  ``C <= 100``; for ``C > 100`` the reference's ``len()`` of that scalar raises inside its
  ``try`` and the class is skipped, which we reproduce.
* Correlations are computed in double precision from the float32 Jacobians and clipped to
  [-1, 1], as NumPy's ``corrcoef`` does.
* Finiteness: if a Jacobian row is constant (in practice: the output does not depend on the
  input at all, e.g. NAS-Bench-201 cells with no input-output path) its correlations are NaN and
  the reference score is NaN, which the authors' ``nanargmax`` never selects. We return 0.0
  instead: every score is a sum of absolute values, so 0.0 is the bottom of the range.
  Higher is better (the reference ranks with ``nanargmax``).
"""

from __future__ import annotations

import math

import torch

from harness.api import ArchContext, Paper, estimator
from harness.passes import forward_pass, input_jacobian

K = 1e-5
MANY_CLASSES = 100  # above this, the reference switches to the normalised pairwise variant

PAPER = Paper(
    title="EPE-NAS: Efficient Performance Estimation Without Training for Neural Architecture "
          "Search",
    url="https://arxiv.org/abs/2102.08099",
    bibtex="""@inproceedings{lopes2021epenas,
  title={EPE-NAS: Efficient Performance Estimation Without Training for Neural Architecture
         Search},
  author={Lopes, Vasco and Alirezazadeh, Saeid and Alexandre, Lu{\\'\\i}s A.},
  booktitle={Artificial Neural Networks and Machine Learning -- ICANN 2021},
  series={Lecture Notes in Computer Science},
  volume={12895},
  pages={552--563},
  publisher={Springer},
  year={2021},
  doi={10.1007/978-3-030-86383-8_44}
}""",
)


def epe_from_jacobians(jac: torch.Tensor, labels: torch.Tensor, n_classes: int) -> float:
    """The EPE-NAS score from per-image Jacobians.

    Args:
        jac: ``(n_images, n_inputs)`` input Jacobians (any float dtype).
        labels: ``(n_images,)`` integer labels.
        n_classes: width of the network's output (selects the reference's variant).

    Returns:
        The score, or ``nan`` where the reference's is NaN (the caller maps it to 0.0).
    """
    jac = jac.to(torch.float64)
    many = n_classes > MANY_CLASSES
    per_class: list[float] = []
    for c in torch.unique(labels).tolist():  # sorted: a fixed summation order
        rows = jac[labels == c]
        n_c = rows.shape[0]
        if n_c == 1:
            if many:
                continue  # the reference's len() of a scalar raises; the class is skipped
            per_class.append(math.log(1.0 + K))
            continue
        corr = torch.corrcoef(rows)
        s = float(torch.log(corr.abs() + K).sum())
        per_class.append(s / n_c if many else s)
    if not many:
        return float(sum(abs(s) for s in per_class))
    if not per_class:
        return 0.0
    pairwise = sum(abs(a - b) for a in per_class for b in per_class)
    return float(pairwise / len(per_class))


@estimator(
    name="epe_nas",
    kind="zero-shot",
    idea="Per class, how uncorrelated the input Jacobians of same-class images are: sum over "
         "classes of |sum log(|corr| + 1e-5)|.",
    paper=PAPER,
    version="1",
    needs_images=True,
    data_independent=False,
)
def score(ctx: ArchContext) -> float:
    # The reference's Jacobian is jacob_cov's: a fresh network in training mode, the whole
    # batch, one backward of ``ones`` through the logits. Taking it from the shared forward
    # pass lets a joint run with jacob_cov (or any gradient proxy) compute it once.
    fp = forward_pass(ctx)
    jac = input_jacobian(ctx)
    value = epe_from_jacobians(jac.reshape(jac.shape[0], -1), fp.y.detach(), fp.out.shape[-1])
    return value if math.isfinite(value) else 0.0
