"""snip: connection sensitivity of the weights at initialisation (SNIP, Lee et al., ICLR 2019).

Definition (Abdelfattah et al., ICLR 2021; reference `foresight/pruners/measures/snip.py`)::

    snip = sum over Conv2d/Linear weights w of | w * dL/dw |

with ``L`` the mean cross-entropy of the freshly initialised network (training mode) on the
batch. The reference obtains ``w * dL/dw`` as the gradient of a multiplicative all-ones mask on
each weight; the chain rule makes that the same product, computed here directly (in float64)
from the shared cross-entropy pass. Higher is predicted better.
"""

from harness.api import ArchContext, estimator
from harness.papers import VKDNW_TABLE_1, ZERO_COST_NB101_TABLE, ZERO_COST_NB201_TABLE
from harness.papers import ZERO_COST_PROXIES as PAPER
from harness.passes import ce_gradients

PUBLISHED = (
    ZERO_COST_NB201_TABLE.figure("spearman", 0.596, "nb201-c10"),
    VKDNW_TABLE_1.figure("kendall", 0.431, "nb201-c10", method="SNIP"),
    VKDNW_TABLE_1.figure("spearman", 0.591, "nb201-c10", method="SNIP"),
    ZERO_COST_NB101_TABLE.figure("spearman", 0.164, "nb101"),
)


@estimator(
    name="snip",
    kind="zero-shot",
    idea="Sum of |weight x loss gradient| over conv/linear weights at init (SNIP saliency).",
    paper=PAPER,
    published=PUBLISHED,
    version="1",
)
def score(ctx: ArchContext) -> float:
    total = 0.0
    for layer in ce_gradients(ctx):
        # float64 products of float32 factors are exact; only the summation rounds.
        total += float((layer.weight.double() * layer.grad.double()).abs().sum())
    return total
