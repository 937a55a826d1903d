"""plain: the signed first-order loss change of removing all weights, a baseline saliency.

Definition (Abdelfattah et al., ICLR 2021; reference `foresight/pruners/measures/plain.py`)::

    plain = sum over Conv2d/Linear weights w of  w * dL/dw

with ``L`` the mean cross-entropy of the freshly initialised network (training mode) on the
batch. Unlike ``snip`` there is no absolute value. The reference reports this value as is, and
it correlates *negatively* with accuracy on NAS-Bench-201; the harness keeps the sign, so the
score is returned unchanged (no sign flip) and a negative rank correlation is expected.
"""

from harness.api import ArchContext, estimator
from harness.papers import ZERO_COST_PROXIES as PAPER
from harness.passes import ce_gradients


@estimator(
    name="plain",
    kind="zero-shot",
    idea="Signed sum of weight x loss gradient over conv/linear weights at init (baseline).",
    paper=PAPER,
    version="1",
)
def score(ctx: ArchContext) -> float:
    total = 0.0
    for layer in ce_gradients(ctx):
        total += float((layer.weight.double() * layer.grad.double()).sum())
    return total
