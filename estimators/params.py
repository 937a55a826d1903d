"""Parameter count: the complexity baseline that zero-shot estimators must beat."""

from harness.api import ArchContext, estimator
from harness.papers import NING2021 as PAPER


@estimator(
    name="params",
    kind="baseline",
    idea="Number of trainable parameters of the network (more is predicted better).",
    paper=PAPER,
    version="1",
    needs_images=False,
    data_independent=True,
)
def score(ctx: ArchContext) -> float:
    net = ctx.build()
    return float(sum(p.numel() for p in net.parameters() if p.requires_grad))
