"""snip: connection sensitivity of the weights at initialisation (SNIP, Lee et al., ICLR 2019).

Definition (Abdelfattah et al., ICLR 2021; reference `foresight/pruners/measures/snip.py`)::

    snip = sum over Conv2d/Linear weights w of | w * dL/dw |

with ``L`` the mean cross-entropy of the freshly initialised network (training mode) on the
batch. The reference obtains ``w * dL/dw`` as the gradient of a multiplicative all-ones mask on
each weight; the chain rule makes that the same product, computed here directly (in float64)
from the shared cross-entropy pass. Higher is predicted better.
"""

from harness.api import ArchContext, Paper, estimator
from harness.passes import ce_gradients

PAPER = Paper(
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


@estimator(
    name="snip",
    kind="zero-shot",
    idea="Sum of |weight x loss gradient| over conv/linear weights at init (SNIP saliency).",
    paper=PAPER,
    version="1",
)
def score(ctx: ArchContext) -> float:
    total = 0.0
    for layer in ce_gradients(ctx):
        # float64 products of float32 factors are exact; only the summation rounds.
        total += float((layer.weight.double() * layer.grad.double()).abs().sum())
    return total
