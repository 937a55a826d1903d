"""Papers cited by several estimators, defined once.

Estimator files import these instead of repeating the BibTeX; a submission citing its own
paper defines its ``Paper`` in its own file.
"""

from harness.api import Paper
from harness.published import PublishedTable

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

#: Abdelfattah et al.'s NAS-Bench-201 table of Spearman ρ, as the official notebook computes it.
ZERO_COST_NB201_TABLE = PublishedTable(
    source="Abdelfattah et al. (ICLR 2021), Table 1: the output of SamsungLabs/zero-cost-nas "
           "notebooks/nasbench201_correlations.ipynb",
    population="all 15,625 cells",
    note="|ρ| as the notebook prints it (it drops the sign); one seed (42), one batch of 64 "
         "training images; ground truth: test accuracy of the benchmark's cifar10-valid run "
         "(trained on half the training set), ours the CIFAR-10 run's test accuracy; our "
         "nb201-c10-1k is a 1,000-cell sample (about ±0.02)",
    absolute=True,
)

#: The same notebooks' NAS-Bench-101 table of Spearman ρ (magnitudes, as for NAS-Bench-201).
ZERO_COST_NB101_TABLE = PublishedTable(
    source="SamsungLabs/zero-cost-nas notebooks/nasbench101_correlations.ipynb (its printed "
           "output; Abdelfattah et al., ICLR 2021)",
    population="all 423,624 cells of NAS-Bench-101",
    note="|ρ| as the notebook prints it (it drops the sign); one batch of 256 training images; "
         "ground truth: the accuracy stored in the notebook's nasbench1_accuracy.p (not "
         "published with it); our nb101-1k is a 1,000-cell sample of NAS-Bench-1shot1 search "
         "space 3, a subset of NAS-Bench-101 with its own spread of accuracies, so only a "
         "rough match is expected",
    absolute=True,
)

#: VKDNW's Table 1: its own method and re-runs of earlier ones with their authors' code.
VKDNW_TABLE_1 = PublishedTable(
    source="VKDNW (CVPR 2025), Table 1 (also table1.png in ondratybl/VKDNW)",
    population="the 9,445 unique cells",
    note="another group's re-run with the method's original code; mean of 5 runs (every std "
         "below 0.02) over the de-duplicated cells, ours over a 1,000-cell sample",
)
