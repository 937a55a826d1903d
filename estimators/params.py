"""Parameter count: the complexity baseline that zero-shot estimators must beat."""

from harness.api import ArchContext, Paper, estimator

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
