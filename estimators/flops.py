"""FLOPs: multiply-accumulates of one forward pass, the other complexity baseline."""

from harness.api import ArchContext, estimator
from harness.flops import count_macs
from harness.papers import NING2021 as PAPER
from harness.papers import VKDNW_TABLE_1

PUBLISHED = (
    VKDNW_TABLE_1.figure("kendall", 0.623, "nb201-c10", method="FLOPs"),
    VKDNW_TABLE_1.figure("spearman", 0.799, "nb201-c10", method="FLOPs"),
)


@estimator(
    name="flops",
    kind="baseline",
    idea="Multiply-accumulates of one forward pass of one image at the dataset's input size.",
    paper=PAPER,
    published=PUBLISHED,
    version="1",
    needs_images=False,
    data_independent=True,
)
def score(ctx: ArchContext) -> float:
    return float(count_macs(ctx.build(), (1, *ctx.input_shape)))
