"""FLOPs: multiply-accumulates of one forward pass, the other complexity baseline."""

from harness.api import ArchContext, Paper, estimator
from harness.flops import count_macs

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
