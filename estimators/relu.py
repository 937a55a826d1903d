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

from harness.api import ArchContext, Paper, estimator
from harness.passes import relu_call_count

PAPER = Paper(
    title="Evaluating Efficient Performance Estimators of Neural Architectures",
    url="https://arxiv.org/abs/2008.03064",
    bibtex="""@inproceedings{ning2021evaluating,
  title={Evaluating Efficient Performance Estimators of Neural Architectures},
  author={Ning, Xuefei and Tang, Changcheng and Li, Wenshuo and Zhou, Zixuan and Liang, Shuang
          and Yang, Huazhong and Wang, Yu},
  booktitle={Advances in Neural Information Processing Systems},
  volume={34},
  pages={12265--12277},
  year={2021}
}""",
)


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
