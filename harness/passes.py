"""Computations shared by the zero-shot estimators, memoised per context with ``ctx.shared``.

Several estimators of the paper's zero-shot set read the same quantities: ``grad_norm``, ``snip``,
``plain`` and ``fisher`` all need one cross-entropy forward/backward pass of the freshly
initialised network on the batch. The functions here compute such a quantity once per
(architecture, seed, batch) and store it under a fixed key, so that running the estimators
together costs one pass instead of four.

Rules that keep scores bit-identical whether an estimator runs alone or next to others:

* every computation builds its own network with ``ctx.build()`` and depends only on the
  context (never on which estimator asked first);
* results are read-only by contract: callers must not modify the returned tensors or arrays
  (numpy arrays are additionally flagged non-writeable).

Layer selection follows the reference code of Abdelfattah et al. (``foresight/pruners``):
only ``nn.Conv2d`` and ``nn.Linear`` weights count ("prunable" layers); biases and BatchNorm
parameters never do. ReLU-based scores hook every module whose class name contains ``"ReLU"``,
as the NASWOT code and Ning et al.'s fork do (``'ReLU' in str(type(module))``): this matches
``nn.ReLU`` *and* wrappers such as NAS-Bench-201's ``ReLUConvBN``, whose input is then counted
twice (once by the wrapper, once by its inner ``nn.ReLU``), exactly as in the reference.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness.api import ArchContext, cross_entropy

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)
# The reference's ``copynet(bn=False)`` disables exactly these two BatchNorm types.
BATCHNORM_TYPES: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d)

# float32 sums of 0/1 values are exact integers only up to 2**24; longer code vectors are split.
_EXACT_FLOAT32_SUM = 1 << 24


def prunable_layers(net: nn.Module) -> list[nn.Module]:
    """Conv2d and Linear modules of ``net`` in ``net.modules()`` order (the reference's order)."""
    return [m for m in net.modules() if isinstance(m, PRUNABLE_TYPES)]


def is_relu_module(module: nn.Module) -> bool:
    """Whether the reference would hook ``module``: its class name contains ``"ReLU"``."""
    return "ReLU" in type(module).__name__


def strip_batchnorm(net: nn.Module) -> nn.Module:
    """Replace every BatchNorm1d/2d of ``net`` by an identity, in place (the ``bn=False`` copy).

    Returns:
        ``net`` itself, for chaining.
    """
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, BATCHNORM_TYPES):
                setattr(parent, name, nn.Identity())
    return net


# --------------------------------------------------------------------------------------------
# One cross-entropy forward/backward pass: weights, gradients and Fisher channel saliencies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerGrad:
    """One prunable layer after a cross-entropy backward pass on the batch.

    Attributes:
        name: the module's qualified name in the network.
        weight: the layer's weight at initialisation (detached; do not modify).
        grad: d(mean cross-entropy)/d(weight); zeros if the weight received no gradient.
        fisher: per output channel k, ``0.5 * mean_n (sum_s a[n,k,s] * g[n,k,s]) ** 2`` where
            ``a`` is the layer's output and ``g`` the loss gradient with respect to it (the
            reference's Fisher saliency, ``del_k``); zeros if no gradient reached the output.
    """

    name: str
    weight: torch.Tensor
    grad: torch.Tensor
    fisher: torch.Tensor


@dataclass(frozen=True)
class GraphGradients:
    """The result of :meth:`ForwardPass.graph_gradients` (do not modify).

    Attributes:
        weights: the prunable layers' weights (the network's parameters, graph leaves).
        grads: d(mean cross-entropy)/d(weight) with ``create_graph=True`` (``None`` where a
            weight does not reach the loss).
        fisher: the Fisher saliency recorded in the same backward, per layer (``None`` where
            no gradient reached the layer's output; not yet ``abs()``-ed).
    """

    weights: tuple[torch.Tensor, ...]
    grads: tuple[torch.Tensor | None, ...]
    fisher: tuple[torch.Tensor | None, ...]


class ForwardPass:
    """One forward pass of a fresh network on the batch, shared by every gradient consumer.

    The pass runs with autograd on, the input a private leaf copy that requires grad, and hooks
    that record what the consumers read later: the binary ReLU codes (NASWOT's kernel) and the
    prunable layers' outputs (Fisher saliency). Each consumer then runs only its own backward on
    the retained graph: the cross-entropy weight gradients (:func:`ce_gradients`), the input
    Jacobian (``jacob_cov``, ``epe_nas``), GraSP's Hessian-gradient product. Their values do
    not depend on which consumers ran before: only the CE backward accumulates ``.grad`` (and
    Fisher, whose tensor hooks are switched on for that backward alone); the others call
    ``torch.autograd.grad``, which never does.

    Attributes:
        net: the network (training mode; do not modify).
        x: the batch's images, a leaf tensor with ``requires_grad`` (do not modify).
        y: the labels.
        out: the logits, with their graph retained.
    """

    def __init__(self, ctx: ArchContext):
        net = ctx.build()
        images, y = ctx.batch
        # A private leaf copy: the shared batch tensor must not gain requires_grad or a .grad.
        self.x = images.detach().clone().requires_grad_(True)
        self.y = y
        self.net = net
        self.named = [(n, m) for n, m in net.named_modules() if isinstance(m, PRUNABLE_TYPES)]
        # Fisher saliencies are accumulated per cross-entropy backward: the plain one
        # (``ce_gradients``) and the create-graph one (``graph_gradients``) each fill their own
        # list, so neither can add to the other's. Other backwards (Jacobian, GraSP's second
        # one) pass through with no target.
        self._fisher_target: list[torch.Tensor | None] | None = None
        self._codes: list[torch.Tensor] = []
        self._loss: torch.Tensor | None = None
        handles = [m.register_forward_hook(self._fisher_hook(i))
                   for i, (_, m) in enumerate(self.named)]
        hook = _relu_code_hook(self._codes)
        handles += [m.register_forward_hook(hook) for m in _relu_modules(net)]
        try:
            self.out = net(self.x)
        finally:
            for h in handles:
                h.remove()

    def _fisher_hook(self, idx: int):
        # The tensor hook below lives in the autograd graph, which this object keeps alive
        # through ``self.out``. A strong reference back to ``self`` would close a cycle through
        # C++ graph nodes that Python's garbage collector cannot see, and every cell's graph
        # and activations would leak (as they did: ~250 MB per NB201 cell). Hence a weak one.
        this = weakref.ref(self)

        def forward_hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
            if not output.requires_grad:
                return
            act = output.detach()

            def on_grad(grad: torch.Tensor) -> None:
                fp = this()
                target = fp._fisher_target if fp is not None else None
                if target is None:
                    return  # a Jacobian or GraSP Hessian backward passing through
                with torch.no_grad():
                    del_k = _channel_saliency(act, grad.detach())
                # Accumulate, as the reference does, should a layer run more than once.
                f = target[idx]
                target[idx] = del_k if f is None else f + del_k

            output.register_hook(on_grad)

        return forward_hook

    @property
    def loss(self) -> torch.Tensor:
        """Mean cross-entropy of the logits (graph retained)."""
        if self._loss is None:
            self._loss = cross_entropy(self.out, self.y)
        return self._loss

    def relu_kernel(self) -> np.ndarray:
        return _kernel_of(self._codes, self.x)

    def ce_gradients(self) -> tuple[LayerGrad, ...]:
        """The plain cross-entropy backward: weight gradients and Fisher saliencies."""
        self.net.zero_grad(set_to_none=True)
        fisher: list[torch.Tensor | None] = [None] * len(self.named)
        self._fisher_target = fisher
        try:
            self.loss.backward(retain_graph=True)
        finally:
            self._fisher_target = None
        grads = [m.weight.grad for _, m in self.named]
        return self._layer_grads(grads, fisher)

    def graph_gradients(self) -> GraphGradients:
        """The cross-entropy weight gradients with their own graph (``create_graph=True``).

        GraSP differentiates these again. The same backward records the Fisher saliencies,
        so that :meth:`layer_grads_from_graph` can serve the plain CE consumers without a
        second backward: the first-order values a create-graph backward computes are those of
        the plain one (the same kernels run; the graph is only recorded on the side), which
        ``tests/test_estimators_paper.py`` checks bitwise, alone against joint, on real cells.
        """
        weights = [m.weight for _, m in self.named]
        fisher: list[torch.Tensor | None] = [None] * len(self.named)
        self._fisher_target = fisher
        try:
            grads = torch.autograd.grad(self.loss, weights, create_graph=True,
                                        allow_unused=True, retain_graph=True)
        finally:
            self._fisher_target = None
        return GraphGradients(weights=tuple(weights), grads=tuple(grads), fisher=tuple(fisher))

    def layer_grads_from_graph(self, gg: GraphGradients) -> tuple[LayerGrad, ...]:
        """What :meth:`ce_gradients` returns, read off :meth:`graph_gradients`' backward."""
        return self._layer_grads(list(gg.grads), list(gg.fisher))

    def _layer_grads(self, grads, fisher) -> tuple[LayerGrad, ...]:
        layers = []
        for (name, m), g, f in zip(self.named, grads, fisher, strict=True):
            w = m.weight.detach()
            g = g.detach() if g is not None else torch.zeros_like(w)
            if f is None:
                f = torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
            layers.append(LayerGrad(name=name, weight=w, grad=g, fisher=f.abs()))
        return tuple(layers)

    def input_jacobian(self) -> torch.Tensor:
        """d(sum of all logits)/d(images), shape of the batch (detached)."""
        (jac,) = torch.autograd.grad(self.out, self.x, grad_outputs=torch.ones_like(self.out),
                                     retain_graph=True)
        return jac.detach()


FORWARD_KEY = "passes.forward/v1"
GRAPH_GRADIENTS_KEY = "passes.graph_gradients/v1"


def forward_pass(ctx: ArchContext) -> ForwardPass:
    """The shared forward pass of ``ctx`` (memoised per architecture, seed and batch)."""
    return ctx.shared(FORWARD_KEY, lambda: ForwardPass(ctx))


def graph_gradients(ctx: ArchContext) -> GraphGradients:
    """The CE weight gradients with a graph for a second derivative (memoised; GraSP's).

    Estimators that call this should declare ``uses=(GRAPH_GRADIENTS_KEY,)`` so that
    :func:`ce_gradients` can reuse its backward in a joint run.
    """
    return ctx.shared(GRAPH_GRADIENTS_KEY, lambda: forward_pass(ctx).graph_gradients())


def ce_gradients(ctx: ArchContext) -> tuple[LayerGrad, ...]:
    """Per prunable layer, weight, gradient and Fisher saliency of one CE pass (memoised).

    The pass is the one the reference runs for ``grad_norm``, ``snip``, ``plain`` and
    ``fisher``: a fresh network in training mode (BatchNorm uses batch statistics), the whole
    batch in one forward, mean cross-entropy, one backward (on :func:`forward_pass`). When an
    estimator of the same joint run declared :data:`GRAPH_GRADIENTS_KEY` (GraSP), that
    create-graph backward runs anyway and already holds these values, so it serves both.
    """
    def compute() -> tuple[LayerGrad, ...]:
        fp = forward_pass(ctx)
        if ctx.planned(GRAPH_GRADIENTS_KEY) or ctx.has_shared(GRAPH_GRADIENTS_KEY):
            return fp.layer_grads_from_graph(graph_gradients(ctx))
        return fp.ce_gradients()

    return ctx.shared("passes.ce_gradients/v1", compute)


def input_jacobian(ctx: ArchContext) -> torch.Tensor:
    """The input Jacobian ``jacob_cov`` and ``epe_nas`` read, from :func:`forward_pass`.

    ``d(sum of all logits)/d(images)`` of a fresh network in training mode on the whole batch;
    memoised, so a joint run with both computes it once (do not modify).
    """
    return ctx.shared("passes.input_jacobian/v1", lambda: forward_pass(ctx).input_jacobian())


def _channel_saliency(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    prod = act * grad
    # The reference sums over every dimension after (batch, channel), i.e. spatial positions.
    g_nk = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
    return g_nk.pow(2).mean(0).mul(0.5)


# --------------------------------------------------------------------------------------------
# ReLU activation codes: the NASWOT kernel and the ReLU call count
# --------------------------------------------------------------------------------------------


def _relu_modules(net: nn.Module) -> Iterator[nn.Module]:
    return (m for m in net.modules() if is_relu_module(m))


def _hamming_kernel(codes: torch.Tensor) -> torch.Tensor:
    """``c @ c.T + (1 - c) @ (1 - c).T`` for the binary codes ``c`` (bool, batch first).

    Equal to ``D - hamming(c_i, c_j)`` (``D`` = units per sample). Computed as
    ``2 c c^T - r_i - r_j + D`` with ``r`` the per-sample counts of active units: one matrix
    product instead of two, and exact, because every partial sum is an integer below 2**24.
    """
    codes = codes.reshape(codes.shape[0], -1).float()
    n, d = codes.shape
    gram = torch.zeros((n, n), dtype=torch.float64, device=codes.device)
    for start in range(0, d, _EXACT_FLOAT32_SUM):
        chunk = codes[:, start : start + _EXACT_FLOAT32_SUM]
        gram += (chunk @ chunk.t()).double()
    active = codes.sum(dim=1, dtype=torch.float64)
    return 2.0 * gram - active[:, None] - active[None, :] + float(d)


def relu_kernel(ctx: ArchContext) -> np.ndarray:
    """NASWOT's kernel ``K`` (float64, ``batch x batch``, read-only), memoised.

    ``K = sum over hooked modules of c c^T + (1 - c)(1 - c)^T`` where ``c`` is the binary code
    (input > 0) of the module's input for each image of the batch, from one forward pass of a
    fresh network in training mode (the shared :func:`forward_pass` if it already ran).
    ``K[i, j]`` counts the units on which images ``i`` and ``j`` agree; all entries are exact
    integers, so summation order cannot change them.
    """
    return ctx.shared("passes.relu_kernel/v1", lambda: _relu_kernel(ctx))


def _relu_kernel(ctx: ArchContext) -> np.ndarray:
    # Reuse the gradient proxies' forward when one already ran; otherwise a forward without
    # autograd, which costs about half as much on the CPU. The codes are the same either way
    # (the forward arithmetic does not depend on grad mode), and the kernel's entries are exact
    # integers, so the kernel is bit-identical (checked by the harness's alone re-scoring).
    if ctx.has_shared(FORWARD_KEY):
        return forward_pass(ctx).relu_kernel()
    net = ctx.build()
    x, _ = ctx.batch
    codes: list[torch.Tensor] = []
    hook = _relu_code_hook(codes)
    handles = [m.register_forward_hook(hook) for m in _relu_modules(net)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return _kernel_of(codes, x)


def _relu_code_hook(store: list[torch.Tensor]):
    """A forward hook appending the binary code (input > 0) of each hooked module's input."""
    # A wrapper such as ReLUConvBN and its inner nn.ReLU see the very same input tensor one
    # after the other; reuse the codes then (same object, unmodified: same version counter).
    last: list = [None, -1, None]

    def forward_hook(module: nn.Module, inputs, output) -> None:
        inp = inputs[0]
        if last[0] is inp and last[1] == inp._version:
            codes = last[2]
        else:
            codes = inp.detach() > 0
            last[:] = [inp, inp._version, codes]
        store.append(codes)

    return forward_hook


def _kernel_of(codes: list[torch.Tensor], x: torch.Tensor) -> np.ndarray:
    """Sum of the Hamming kernels of ``codes`` (one kernel per distinct code tensor), read-only."""
    n = x.shape[0]
    total = torch.zeros((n, n), dtype=torch.float64, device=x.device)
    last_codes, last_k = None, None
    for c in codes:
        if c is not last_codes:
            last_codes, last_k = c, _hamming_kernel(c)
        total = total + last_k
    kernel = total.cpu().numpy()
    kernel.setflags(write=False)
    return kernel


def relu_call_count(ctx: ArchContext) -> int:
    """Calls of hooked ("ReLU"-named) modules during one forward pass of a single input.

    The reference feeds the first image of the batch; the count depends only on which modules
    run, so an all-zeros input of ``ctx.input_shape`` gives the same number without images.
    """
    return ctx.shared("passes.relu_call_count/v1", lambda: _relu_call_count(ctx))


def _relu_call_count(ctx: ArchContext) -> int:
    net = ctx.build()
    calls = [0]

    def forward_hook(module: nn.Module, inputs, output) -> None:
        calls[0] += 1

    handles = [m.register_forward_hook(forward_hook) for m in _relu_modules(net)]
    try:
        with torch.no_grad():
            net(torch.zeros((1, *ctx.input_shape), device=ctx.device))
    finally:
        for h in handles:
            h.remove()
    return calls[0]


# --------------------------------------------------------------------------------------------
# SynFlow
# --------------------------------------------------------------------------------------------


def synflow_sum(ctx: ArchContext, *, batchnorm: bool) -> float:
    """SynFlow's ``sum over prunable weights of |w * dR/dw|`` in float64 (memoised).

    As in the reference: every state-dict entry (weights and buffers) is replaced by its
    absolute value, the network is cast to float64, and ``R`` is the sum of the outputs for one
    all-ones input of ``ctx.input_shape``. With ``batchnorm=False`` the BatchNorm layers are
    removed first (the reference's ``bn=False`` copy); with ``batchnorm=True`` they stay, in
    training mode, normalising over the single input's spatial positions.
    """
    key = f"passes.synflow_sum/v1/bn={bool(batchnorm)}"
    return ctx.shared(key, lambda: _synflow_sum(ctx, batchnorm))


def _synflow_sum(ctx: ArchContext, batchnorm: bool) -> float:
    net = ctx.build()
    if not batchnorm:
        strip_batchnorm(net)
    with torch.no_grad():
        for tensor in net.state_dict().values():
            tensor.abs_()
    net = net.double()
    net.zero_grad(set_to_none=True)
    ones = torch.ones((1, *ctx.input_shape), dtype=torch.float64, device=ctx.device)
    net(ones).sum().backward()
    total = 0.0
    for m in prunable_layers(net):
        if m.weight.grad is not None:
            total += float((m.weight.detach() * m.weight.grad).abs().sum())
    return total
