"""synflow_bn: synaptic flow with BatchNorm kept in training mode (Abdelfattah et al.'s variant).

Definition (Abdelfattah et al., ICLR 2021; reference `foresight/pruners/measures/synflow.py`,
measure ``synflow_bn``, i.e. ``bn=True``): replace every weight and buffer by its absolute
value, cast the network to float64, keep BatchNorm in training mode (it normalises over the
spatial positions of the single input), feed one all-ones input of the image shape, and with
``R = sum of the outputs``::

    S = sum over Conv2d/Linear weights w of | w * dR/dw |
    synflow_bn = ln(1 + S)       (math.log1p, in float64)

As for ``synflow``, the log is this harness's addition: ``ln(1 + S)`` is strictly increasing
in S, so rankings equal the reference's, and it is exactly 0 for S = 0 (networks whose output
does not depend on the input, ranked last as in the reference), so it is always finite. With
BatchNorm the signal is renormalised at every layer and S stays small (about 15 to 35 on
NAS-Bench-201 cells), so here ``ln(1 + S)`` is visibly larger than ``ln S`` (by ``ln(1 + 1/S)``,
about 0.03 to 0.07); only the ranking is meaningful.

The batch is used by the reference only for its shape, so the estimator needs no images and is
data independent. Higher is predicted better.
"""

import math

from harness.api import ArchContext, estimator
from harness.papers import ZERO_COST_PROXIES as PAPER
from harness.passes import synflow_sum


@estimator(
    name="synflow_bn",
    kind="zero-shot",
    idea="Log of the synaptic flow sum of the |weight| net, train-mode BN, on an all-ones input.",
    paper=PAPER,
    version="1",
    needs_images=False,
    data_independent=True,
)
def score(ctx: ArchContext) -> float:
    return math.log1p(synflow_sum(ctx, batchnorm=True))
