"""FLOPs: multiply-accumulates of one forward pass, the other complexity baseline."""

from harness.api import ArchContext, estimator
from harness.flops import count_macs
from harness.papers import NING2021 as PAPER


@estimator(
    name="flops",
    kind="baseline",
    idea="Multiply-accumulates of one forward pass of one image at the dataset's input size.",
    paper=PAPER,
    version="1",
    needs_images=False,
    data_independent=True,
)
def score(ctx: ArchContext) -> float:
    return float(count_macs(ctx.build(), (1, *ctx.input_shape)))
