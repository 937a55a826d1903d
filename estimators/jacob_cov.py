"""jacob_cov: how uncorrelated the input Jacobians of a batch are at initialisation.

From the first version of "Neural Architecture Search without Training" (Mellor et al., 2020),
as defined by Abdelfattah et al., ICLR 2021 (reference
`foresight/pruners/measures/jacob_cov.py`). With the network in training mode,
``J[n] = d(sum of all logits of the batch)/d(image n)`` flattened, ``C`` the correlation
matrix of the rows of ``J`` (``numpy.corrcoef``, images x images) and ``λ`` its eigenvalues::

    jacob_cov = - sum over λ of ( ln(λ + k) + 1 / (λ + k) ),   k = 1e-5

Higher (less correlated Jacobians) is predicted better; the value is the reference's, sign
included. Eigenvalues use ``eigvalsh`` (C is symmetric) where the reference calls ``eig``;
both give the same real spectrum up to round-off.

Degenerate case: when some image's Jacobian is constant (for instance identically zero because
the cell cuts the input off from the output), its correlations are undefined and the reference
returns NaN. This implementation returns instead the score of a fully correlated batch
(eigenvalues ``N, 0, ..., 0``), the lowest the formula reaches for ``N`` images, so such a
network ranks below every non-degenerate one and the score stays finite.
"""

from harness.api import ArchContext, estimator
from harness.papers import VKDNW_TABLE_1, ZERO_COST_NB101_TABLE, ZERO_COST_NB201_TABLE
from harness.papers import ZERO_COST_PROXIES as PAPER
from harness.passes import input_jacobian
from harness.toolkit import JACOV_K as K
from harness.toolkit import eigen_score, fully_correlated_score, jacobian_covariance_score

__all__ = ["K", "eigen_score", "fully_correlated_score", "score"]


PUBLISHED = (
    ZERO_COST_NB201_TABLE.figure("spearman", 0.731, "nb201-c10"),
    VKDNW_TABLE_1.figure("kendall", 0.616, "nb201-c10", method="Jacov"),
    VKDNW_TABLE_1.figure("spearman", 0.8, "nb201-c10", method="Jacov"),
    ZERO_COST_NB101_TABLE.figure("spearman", 0.378, "nb101"),
)


@estimator(
    name="jacob_cov",
    kind="zero-shot",
    idea="Minus sum of ln(λ+k)+1/(λ+k) over eigenvalues of the input-Jacobian correlation matrix.",
    paper=PAPER,
    published=PUBLISHED,
    version="1",
)
def score(ctx: ArchContext) -> float:
    # d(sum of logits)/d(images) on the forward pass shared with the other gradient proxies;
    # the score itself is harness.toolkit.jacobian_covariance_score (vkdnw_agg uses it too).
    return jacobian_covariance_score(input_jacobian(ctx))
