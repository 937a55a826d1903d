"""Papers cited by several estimators, defined once.

Estimator files import these instead of repeating the BibTeX; a submission citing its own
paper defines its ``Paper`` in its own file.
"""

from harness.api import Paper

ZERO_COST_PROXIES = Paper(
    title="Zero-Cost Proxies for Lightweight NAS",
    url="https://arxiv.org/abs/2101.08134",
    bibtex=r"""@inproceedings{abdelfattah2021zerocost,
  title={Zero-Cost Proxies for Lightweight {NAS}},
  author={Abdelfattah, Mohamed S. and Mehrotra, Abhinav and Dudziak, {\L}ukasz
          and Lane, Nicholas D.},
  booktitle={International Conference on Learning Representations},
  year={2021}
}""",
)

NING2021 = Paper(
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

VKDNW = Paper(
    title="Training-free Neural Architecture Search through Variance of Knowledge of Deep "
          "Network Weights",
    url="https://arxiv.org/abs/2502.04975",
    bibtex="""@inproceedings{tybl2025vkdnw,
  title={Training-free Neural Architecture Search through Variance of Knowledge of Deep
         Network Weights},
  author={Tybl, Ond{\\v{r}}ej and Neumann, Luk{\\'a}{\\v{s}}},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern
             Recognition (CVPR)},
  year={2025}
}""",
)
