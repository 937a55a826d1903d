"""L2 norm of the weights at initialisation: NAS-Bench-Suite-Zero's trivial baseline.

Definition, following NASLib's ``l2_norm`` measure (``naslib/predictors/pruners/measures/
l2_norm.py`` with ``get_layer_metric_array`` and ``sum_arr``)::

    l2_norm = sum_{nn.Conv2d and nn.Linear modules l}  || W_l ||_F

i.e. the SUM of the per-layer Frobenius norms of the weight tensors (biases, BatchNorm and other
parameters excluded), not the norm of all weights stacked together. The network is the
harness's freshly built one (default, seeded initialisation), so the score depends on the
architecture and the seed but never on data. Norms are accumulated in double precision.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.api import ArchContext, Paper, estimator

PAPER = Paper(
    title="NAS-Bench-Suite-Zero: Accelerating Research on Zero Cost Proxies",
    url="https://arxiv.org/abs/2210.03230",
    bibtex="""@inproceedings{krishnakumar2022nasbenchsuitezero,
  title={{NAS-Bench-Suite-Zero}: Accelerating Research on Zero Cost Proxies},
  author={Krishnakumar, Arjun and White, Colin and Zela, Arber and Tu, Renbo and Safari, Mahmoud
          and Hutter, Frank},
  booktitle={Advances in Neural Information Processing Systems, Datasets and Benchmarks Track},
  volume={35},
  year={2022}
}""",
)


@estimator(
    name="l2_norm",
    kind="baseline",
    idea="Sum over conv and linear layers of the Frobenius norm of the initial weights.",
    paper=PAPER,
    version="1",
    needs_images=False,
    data_independent=True,
)
def score(ctx: ArchContext) -> float:
    net = ctx.build()
    total = 0.0
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            total += float(torch.linalg.vector_norm(m.weight.detach().to(torch.float64)))
    return total
