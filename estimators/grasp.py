"""grasp: gradient-signal preservation of the weights at initialisation (GraSP).

GraSP (Wang et al., ICLR 2020) as defined by Abdelfattah et al., ICLR 2021 (reference
`foresight/pruners/measures/grasp.py`, with ``T = 1`` and one iteration)::

    g     = dL/dθ                       (treated as a constant)
    Hg    = d(g · dL/dθ)/dθ             (Hessian-gradient product)
    grasp = - sum over Conv2d/Linear weights θ of  θ * (Hg)[θ]

θ are the Conv2d/Linear weights only, ``L`` the mean cross-entropy of the freshly initialised
network (training mode) on the batch. The sign is the reference's: GraSP itself prunes by
``-θ Hg`` from the bottom, and Abdelfattah et al. keep the negative sign because it makes the
score correlate positively with accuracy. Higher is predicted better.

The reference computes ``g`` in a first forward pass and the graph for the Hessian product in a
second, identical one (training-mode BatchNorm uses batch statistics, so both passes give the
same gradient); here one forward serves both, which yields the same values. That forward is
the one shared with the other gradient proxies (:func:`harness.passes.forward_pass`), and the
create-graph backward is :func:`harness.passes.graph_gradients`, whose first-order values also
serve the cross-entropy proxies in a joint run.
"""

import torch

from harness.api import ArchContext, estimator
from harness.papers import VKDNW_TABLE_1, ZERO_COST_NB101_TABLE, ZERO_COST_NB201_TABLE
from harness.papers import ZERO_COST_PROXIES as PAPER
from harness.passes import GRAPH_GRADIENTS_KEY, graph_gradients

PUBLISHED = (
    ZERO_COST_NB201_TABLE.figure("spearman", 0.514, "nb201-c10"),
    VKDNW_TABLE_1.figure("kendall", 0.352, "nb201-c10", method="GraSP"),
    VKDNW_TABLE_1.figure("spearman", 0.505, "nb201-c10", method="GraSP"),
    ZERO_COST_NB101_TABLE.figure("spearman", 0.448, "nb101"),
)


@estimator(
    name="grasp",
    kind="zero-shot",
    idea="Minus the sum of weight x (Hessian x gradient) over conv/linear weights at init.",
    paper=PAPER,
    published=PUBLISHED,
    version="1",
    uses=(GRAPH_GRADIENTS_KEY,),
)
def score(ctx: ArchContext) -> float:
    # dL/dθ with its graph, on the forward shared with the other gradient proxies; declared in
    # ``uses`` so that grad_norm, snip, fisher and plain read their gradients off this backward.
    gg = graph_gradients(ctx)
    weights, grads = list(gg.weights), gg.grads
    z = None
    for g in grads:
        if g is not None:
            term = (g.detach() * g).sum()
            z = term if z is None else z + term
    if z is None or not z.requires_grad:
        return 0.0  # no weight influences the loss's gradient: every Hg term is zero
    # Alone, the graph can be freed as this backward walks it: on the largest NDS-ResNeXt cell
    # that lowers the peak from 12.3 to about 9.6 GB. In a joint run later consumers (the
    # input Jacobian) still need the forward graph, so it is kept.
    hg = torch.autograd.grad(z, weights, allow_unused=True, retain_graph=ctx.sharing)
    total = 0.0
    for w, h in zip(weights, hg, strict=True):
        if h is not None:
            total -= float((w.detach().double() * h.detach().double()).sum())
    return total
