"""relu_logdet (NASWOT): how differently the ReLUs of an untrained network code a batch.

Mellor et al., "Neural Architecture Search without Training", ICML 2021 (official code
``BayesWatch/nas-without-training``, score ``hook_logdet``; the same measure as
``relu_logdet`` in the zero-cost fork that Ning et al. evaluate). With the freshly initialised
network in training mode, one forward pass of the batch, and for every hooked module ``m`` the
binary code ``c_m[n] = (input of m for image n) > 0`` (flattened)::

    K = sum over m of  c_m c_m^T + (1 - c_m)(1 - c_m)^T      (N x N: units on which i, j agree)
    relu_logdet = ln |det K|                                  (numpy slogdet)

Hooked modules follow the reference rule ``'ReLU' in str(type(module))``: every ``nn.ReLU`` and
every module whose class name contains "ReLU", so NAS-Bench-201's ``ReLUConvBN`` wrapper counts
its input a second time next to its inner ``nn.ReLU``, exactly as in the reference.
Higher is predicted better.

Degenerate case: ``K`` is a positive semi-definite matrix of integers, so when it is
nonsingular ``det K >= 1`` and the score is ``>= 0``. When ``K`` is singular (for instance all
images produce the same codes because the cell cuts the input off) the reference returns
``-inf``; this implementation returns ``-1.0``, below every nonsingular value, so the ranking is
the reference's and the score stays finite.
"""

import numpy as np

from harness.api import ArchContext, Paper, estimator
from harness.papers import VKDNW_TABLE_1
from harness.passes import relu_kernel

PAPER = Paper(
    title="Neural Architecture Search without Training",
    url="https://arxiv.org/abs/2006.04647",
    bibtex="""@inproceedings{mellor2021neural,
  title={Neural Architecture Search without Training},
  author={Mellor, Joe and Turner, Jack and Storkey, Amos and Crowley, Elliot J.},
  booktitle={Proceedings of the 38th International Conference on Machine Learning},
  series={Proceedings of Machine Learning Research},
  volume={139},
  pages={7588--7598},
  publisher={PMLR},
  year={2021}
}""",
)

SINGULAR_SCORE = -1.0


PUBLISHED = (
    VKDNW_TABLE_1.figure("kendall", 0.571, "nb201-c10", method="NASWOT"),
    VKDNW_TABLE_1.figure("spearman", 0.762, "nb201-c10", method="NASWOT"),
)


@estimator(
    name="relu_logdet",
    kind="zero-shot",
    idea="Log-determinant of the batch's Hamming-similarity kernel of binary ReLU codes (NASWOT).",
    paper=PAPER,
    published=PUBLISHED,
    version="1",
)
def score(ctx: ArchContext) -> float:
    _, logdet = np.linalg.slogdet(relu_kernel(ctx))
    # slogdet gives -inf exactly when a pivot is exactly zero (singular K); the reference
    # reports the log-magnitude whatever the sign, and so does this.
    return float(logdet) if np.isfinite(logdet) else SINGULAR_SCORE
