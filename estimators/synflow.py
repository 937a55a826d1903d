"""synflow: synaptic flow of the network with BatchNorm removed (SynFlow, Tanaka et al., 2020).

Definition (Abdelfattah et al., ICLR 2021; reference `foresight/pruners/measures/synflow.py`,
measure ``synflow``, i.e. ``bn=False``): remove every BatchNorm1d/2d layer, replace every
weight and buffer by its absolute value, cast the network to float64, feed one all-ones input
of the image shape, and with ``R = sum of the outputs``::

    S = sum over Conv2d/Linear weights w of | w * dR/dw |
    synflow = ln(1 + S)          (math.log1p, in float64)

The log is this harness's addition: S spans ~1e6 (cells of only pooling and skip edges) to
~1e50 on NAS-Bench-201, and ``ln(1 + S)`` is strictly increasing in S, so every ranking metric
equals the reference's. It differs from ``ln S`` by ``ln(1 + 1/S) < 1/S`` (below 1e-6 for every
non-degenerate NAS-Bench-201 cell), and it is exactly 0 when S = 0, the reference's value for
networks whose output does not depend on the input (cells whose output node is cut off by
``none`` edges): finite, and ranked last as in the reference.

The batch is used by the reference only for its shape, so the estimator needs no images and is
data independent. Higher is predicted better.
"""

import math

from harness.api import ArchContext, estimator
from harness.papers import VKDNW_TABLE_1, ZERO_COST_NB101_TABLE, ZERO_COST_NB201_TABLE
from harness.papers import ZERO_COST_PROXIES as PAPER
from harness.passes import synflow_sum

PUBLISHED = (
    ZERO_COST_NB201_TABLE.figure("spearman", 0.737, "nb201-c10"),
    VKDNW_TABLE_1.figure("kendall", 0.561, "nb201-c10", method="SynFlow"),
    VKDNW_TABLE_1.figure("spearman", 0.758, "nb201-c10", method="SynFlow"),
    ZERO_COST_NB101_TABLE.figure("spearman", 0.372, "nb101"),
)


@estimator(
    name="synflow",
    kind="zero-shot",
    idea="Log of the synaptic flow sum |w x dR/dw| of the |weight| BN-free net on all-ones input.",
    paper=PAPER,
    published=PUBLISHED,
    version="1",
    needs_images=False,
    data_independent=True,
)
def score(ctx: ArchContext) -> float:
    return math.log1p(synflow_sum(ctx, batchnorm=False))
