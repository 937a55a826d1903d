"""grad_norm: how large the loss gradients of the weights are at initialisation.

Definition (Abdelfattah et al., ICLR 2021; reference `foresight/pruners/measures/grad_norm.py`)::

    grad_norm = sum over Conv2d/Linear layers l of || dL/dW_l ||_2

with ``L`` the mean cross-entropy of the freshly initialised network (training mode, BatchNorm
on batch statistics) on the batch, and ``|| . ||_2`` the Frobenius norm of the layer's whole
weight gradient. Note that it is a *sum of per-layer norms*, not the norm of the concatenated
gradient. Biases and BatchNorm parameters do not count. Higher is predicted better.
"""

from harness.api import ArchContext, estimator
from harness.papers import VKDNW_TABLE_1, ZERO_COST_NB101_TABLE, ZERO_COST_NB201_TABLE
from harness.papers import ZERO_COST_PROXIES as PAPER
from harness.passes import ce_gradients

PUBLISHED = (
    ZERO_COST_NB201_TABLE.figure("spearman", 0.594, "nb201-c10"),
    VKDNW_TABLE_1.figure("kendall", 0.328, "nb201-c10", method="GradNorm"),
    VKDNW_TABLE_1.figure("spearman", 0.438, "nb201-c10", method="GradNorm"),
    ZERO_COST_NB101_TABLE.figure("spearman", 0.198, "nb101"),
)


@estimator(
    name="grad_norm",
    kind="zero-shot",
    idea="Sum over conv/linear layers of the L2 norm of the cross-entropy weight gradient at init.",
    paper=PAPER,
    published=PUBLISHED,
    version="1",
)
def score(ctx: ArchContext) -> float:
    # float64 norms of the float32 gradients: the sum of ~100 layer norms keeps full precision.
    return float(sum(float(layer.grad.double().norm()) for layer in ce_gradients(ctx)))
