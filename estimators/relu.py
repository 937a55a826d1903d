"""relu: the number of ReLU calls in one forward pass, as in Ning et al.'s evaluation code.

Ning et al. (NeurIPS 2021) evaluate their zero-shot estimators with a fork of the zero-cost
proxies code (``zhouzx17/zero-cost-nas``, called from ``aw_nas/objective/zerocost.py``). Its
``relu`` measure (``foresight/pruners/measures/relu.py``) registers a counting forward hook on
every module whose type string contains "ReLU", runs the first image of the batch through the
network and returns the number of hook calls::

    relu = number of calls of modules whose class name contains "ReLU" in one forward pass

It is a purely structural count, not an activation statistic: the image values never matter.
In NAS-Bench-201 every ``ReLUConvBN`` operation is counted twice (the wrapper and its inner
``nn.ReLU``), so the score is ``2 * (15 * conv edges per cell + 4) + 1`` (4 ReLUConvBN in the two
residual reductions, 1 final ReLU): it ranks cells by their number of convolution edges.
Higher is predicted better.

Because the count ignores the data, this estimator runs one all-zeros input of the dataset's
image shape (the reference's single image gives the same count) and needs no images.
"""

from harness.api import ArchContext, estimator
from harness.papers import NING2021 as PAPER
from harness.passes import relu_call_count


@estimator(
    name="relu",
    kind="zero-shot",
    idea="Number of ReLU(-named) module calls in one forward pass (a structural count).",
    paper=PAPER,
    version="1",
    needs_images=False,
    data_independent=True,
)
def score(ctx: ArchContext) -> float:
    return float(relu_call_count(ctx))
