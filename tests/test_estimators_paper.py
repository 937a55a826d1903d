"""Tests of the paper's zero-shot estimator set (Ning et al., NeurIPS 2021, Section 3).

grad_norm, snip, grasp, fisher, jacob_cov, plain, synflow, synflow_bn, relu_logdet and relu are
each checked against an independent re-derivation on a tiny network (closed forms in NumPy, or
a re-implementation in the reference code's style), then for bitwise reproducibility, for equal
scores alone and when sharing passes, and for finite scores on real NAS-Bench-201 networks.
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from estimators import (
    fisher,
    grad_norm,
    grasp,
    jacob_cov,
    plain,
    relu,
    relu_logdet,
    snip,
    synflow,
    synflow_bn,
)
from harness import api, passes, registry
from harness.spaces import nb201

PAPER_SET = {
    "grad_norm": grad_norm, "snip": snip, "grasp": grasp, "fisher": fisher,
    "jacob_cov": jacob_cov, "plain": plain, "synflow": synflow, "synflow_bn": synflow_bn,
    "relu_logdet": relu_logdet, "relu": relu,
}
DATA_FREE = {"synflow", "synflow_bn", "relu"}

CELLS = {
    "mixed": "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
             "none~2|",
    "pool_skip": "|skip_connect~0|+|avg_pool_3x3~0|none~1|+|none~0|skip_connect~1|"
                 "avg_pool_3x3~2|",
    "all_none": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "cut_off": "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|none~1|none~2|",
    "conv1x1": "|nor_conv_1x1~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|"
               "skip_connect~1|nor_conv_1x1~2|",
}


def make_ctx(factory, batch=None, *, input_shape, num_classes, seed=0, shared=None,
             spec="tiny", space="test"):
    """An ArchContext around ``factory()``, built under a private seeded RNG state."""

    def builder(s):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            return factory()

    return api.ArchContext(
        spec=spec, space=space, dataset="cifar10", num_classes=num_classes,
        input_shape=input_shape, seed=seed, device=torch.device("cpu"), builder=builder,
        batch_loader=(lambda: batch) if batch is not None else None, shared=shared,
    )


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(np.float64)


def _batch(n, shape, classes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g), torch.randint(0, classes, (n,), generator=g)


# --------------------------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PAPER_SET))
def test_metadata(name):
    est = registry.get(name)
    info = est.info
    assert info.name == name and info.kind == "zero-shot" and info.version == "1"
    assert info.paper is not None and info.paper.url.startswith("https://arxiv.org/abs/")
    assert info.paper.bibtex.startswith("@inproceedings{") and info.paper.bibtex.endswith("}")
    assert info.needs_images == (name not in DATA_FREE)
    assert info.data_independent == (name in DATA_FREE)


# --------------------------------------------------------------------------------------------
# hand-checkable cases
# --------------------------------------------------------------------------------------------


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_gradient_saliencies_of_a_linear_softmax_classifier():
    """Closed forms for logits z = W x + b with mean cross-entropy: dL/dW = (P - Y)^T X / N,
    dL/dz = (P - Y) / N, and the Hessian-vector product of the softmax's Jacobian."""
    n, d, c = 6, 5, 3
    x, y = _batch(n, (1, 1, d), c)
    ctx = make_ctx(lambda: nn.Sequential(nn.Flatten(), nn.Linear(d, c)), (x, y),
                   input_shape=(1, 1, d), num_classes=c)
    lin = ctx.build()[1]
    w, b, xs = _np(lin.weight), _np(lin.bias), _np(x).reshape(n, d)
    onehot = np.eye(c)[y.numpy()]
    z = xs @ w.T + b
    p = _softmax(z)
    g = (p - onehot).T @ xs / n

    hg = np.zeros_like(w)  # H g = sum_n (diag(p_n) - p_n p_n^T) (g x_n) x_n^T / N
    for k in range(n):
        jac = np.diag(p[k]) - np.outer(p[k], p[k])
        hg += np.outer(jac @ (g @ xs[k]), xs[k]) / n
    g_nk = z * (p - onehot) / n
    expected = {
        "grad_norm": np.linalg.norm(g),
        "snip": np.abs(w * g).sum(),
        "plain": (w * g).sum(),
        "grasp": -(w * hg).sum(),
        "fisher": (0.5 * (g_nk**2).mean(axis=0)).sum() * d,
    }
    for name, value in expected.items():
        got = PAPER_SET[name].score(make_ctx(lambda: nn.Sequential(nn.Flatten(), nn.Linear(d, c)),
                                             (x, y), input_shape=(1, 1, d), num_classes=c))
        assert got == pytest.approx(value, rel=1e-5, abs=1e-9), name


class _FisherDummy(nn.Module):
    """The reference's identity on a layer's output, hooked to see the output's gradient."""

    def forward(self, x):
        return x


def _reference_style_fisher_and_snip(net: nn.Module, x, y) -> tuple[float, float]:
    """Fisher and SNIP in the reference code's style: replaced forwards, a multiplicative
    weight mask for SNIP, an identity module with a backward hook for Fisher."""
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer in layers:
        layer.weight_mask = nn.Parameter(torch.ones_like(layer.weight))
        layer.dummy = _FisherDummy()
        layer.fisher = None

        def fwd(self, inp):
            w = self.weight * self.weight_mask
            if isinstance(self, nn.Conv2d):
                out = F.conv2d(inp, w, self.bias, self.stride, self.padding, self.dilation,
                               self.groups)
            else:
                out = F.linear(inp, w, self.bias)
            self.act = self.dummy(out)
            return self.act

        def hook(module, grad_in, grad_out, layer=layer):
            act, grad = layer.act.detach(), grad_out[0].detach()
            g_nk = (act * grad).sum(tuple(range(2, act.dim()))) if act.dim() > 2 else act * grad
            layer.fisher = 0.5 * g_nk.pow(2).mean(0)

        layer.forward = types.MethodType(fwd, layer)
        layer.dummy.register_full_backward_hook(hook)
    F.cross_entropy(net(x), y).backward()
    fisher_total = sum(float(m.fisher.sum()) * m.weight[0].numel() for m in layers)
    snip_total = sum(float(m.weight_mask.grad.abs().sum()) for m in layers)
    return fisher_total, snip_total


def test_fisher_and_snip_match_reference_style_code_on_a_conv_bn_net():
    def factory():
        return nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 3, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 5),
        )

    x, y = _batch(8, (2, 4, 4), 5, seed=1)
    ctx = make_ctx(factory, (x, y), input_shape=(2, 4, 4), num_classes=5)
    ref_fisher, ref_snip = _reference_style_fisher_and_snip(ctx.build(), x, y)
    assert fisher.score(ctx) == pytest.approx(ref_fisher, rel=1e-5)
    assert snip.score(ctx) == pytest.approx(ref_snip, rel=1e-5)


def test_grasp_matches_the_reference_two_pass_computation():
    def factory():
        return nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.BatchNorm2d(3), nn.ReLU(),
                             nn.Flatten(), nn.Linear(12, 4))

    x, y = _batch(8, (2, 4, 4), 4, seed=2)
    ctx = make_ctx(factory, (x, y), input_shape=(2, 4, 4), num_classes=4)
    net = ctx.build()
    weights = [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    g_first = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
    g_second = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True)
    sum(((a.detach() * b).sum() for a, b in zip(g_first, g_second, strict=True))).backward()
    expected = -sum(float((w.detach() * w.grad).sum()) for w in weights)
    assert grasp.score(ctx) == pytest.approx(expected, rel=1e-5)


def _eig_score(corr: np.ndarray, k: float = 1e-5) -> float:
    v = np.linalg.eig(corr)[0].real  # the reference's call
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def test_jacob_cov_of_a_one_hidden_layer_relu_net():
    """J_n = ((1^T W2) * 1[W1 x_n + b1 > 0]) W1, then the reference's eigenvalue score."""
    n, d, h, c = 7, 6, 10, 3
    x, y = _batch(n, (1, 1, d), c, seed=3)

    def factory():
        return nn.Sequential(nn.Flatten(), nn.Linear(d, h), nn.ReLU(), nn.Linear(h, c))

    ctx = make_ctx(factory, (x, y), input_shape=(1, 1, d), num_classes=c)
    net = ctx.build()
    w1, b1, w2 = _np(net[1].weight), _np(net[1].bias), _np(net[3].weight)
    xs = _np(x).reshape(n, d)
    mask = (xs @ w1.T + b1) > 0
    jac = (w2.sum(axis=0)[None, :] * mask) @ w1
    expected = _eig_score(np.corrcoef(jac))
    assert jacob_cov.score(ctx) == pytest.approx(expected, rel=1e-6)
    assert not x.requires_grad and x.grad is None  # the shared batch is left untouched


def test_jacob_cov_of_a_linear_net_is_fully_correlated():
    """A linear net has the same Jacobian for every image: correlation matrix of all ones."""
    n, d, c = 5, 4, 3
    x, y = _batch(n, (1, 1, d), c, seed=4)
    ctx = make_ctx(lambda: nn.Sequential(nn.Flatten(), nn.Linear(d, c)), (x, y),
                   input_shape=(1, 1, d), num_classes=c)
    k = 1e-5
    expected = -((n - 1) * (math.log(k) + 1 / k) + math.log(n + k) + 1 / (n + k))
    assert jacob_cov.score(ctx) == pytest.approx(expected, rel=1e-9)
    assert jacob_cov.fully_correlated_score(n) == pytest.approx(expected, rel=1e-12)


class ReLUBlock(nn.Module):
    """A wrapper whose class name contains "ReLU", like NAS-Bench-201's ReLUConvBN."""

    def __init__(self):
        super().__init__()
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(x)


def _hamming_kernel(codes: np.ndarray) -> np.ndarray:
    c = codes.astype(np.float64)
    return c @ c.T + (1 - c) @ (1 - c).T


@pytest.mark.parametrize("inplace", [False, True])
def test_relu_logdet_and_relu_count_of_a_small_mlp(inplace):
    n, d, h1, h2 = 6, 5, 12, 9
    x, y = _batch(n, (1, 1, d), 2, seed=5)

    def factory():
        return nn.Sequential(nn.Flatten(), nn.Linear(d, h1), nn.ReLU(inplace=inplace),
                             nn.Linear(h1, h2), ReLUBlock(), nn.Linear(h2, 2))

    ctx = make_ctx(factory, (x, y), input_shape=(1, 1, d), num_classes=2)
    net = ctx.build()
    pre1 = _np(net[1](x.flatten(1)))
    pre2 = _np(net[3](torch.relu(net[1](x.flatten(1)))))
    # The wrapper and its inner nn.ReLU both see pre2, so its kernel counts twice.
    kernel = _hamming_kernel(pre1 > 0) + 2 * _hamming_kernel(pre2 > 0)
    sign, logdet = np.linalg.slogdet(kernel)
    assert sign > 0
    assert relu_logdet.score(ctx) == pytest.approx(logdet, rel=1e-12)
    assert relu.score(make_ctx(factory, input_shape=(1, 1, d), num_classes=2)) == 3.0


def test_relu_logdet_of_identical_codes_is_the_singular_floor():
    """Every image gives the same codes (a network that ignores its input): K is singular,
    the reference's -inf becomes -1, below any nonsingular integer kernel (log-det >= 0)."""
    x, y = _batch(4, (1, 1, 3), 2, seed=6)

    def factory():
        lin = nn.Linear(3, 4)
        nn.init.zeros_(lin.weight)
        return nn.Sequential(nn.Flatten(), lin, nn.ReLU(), nn.Linear(4, 2))

    ctx = make_ctx(factory, (x, y), input_shape=(1, 1, 3), num_classes=2)
    assert relu_logdet.score(ctx) == -1.0


def test_synflow_of_a_linear_chain_is_depth_times_path_sum():
    """Bias-free linear layers A_1..A_L on an all-ones input: every layer's |w * dR/dw| sums
    to the same path sum 1^T |A_L| ... |A_1| 1, so S = L * path sum. BatchNorm is removed
    (synflow) whatever its parameters."""
    d, h, c = 5, 4, 3

    def factory(bn: bool):
        layers = [nn.Flatten(), nn.Linear(d, h, bias=False)]
        if bn:
            norm = nn.BatchNorm1d(h)
            nn.init.constant_(norm.weight, 3.0)
            nn.init.constant_(norm.bias, -2.0)
            layers.append(norm)
        layers.append(nn.Linear(h, c, bias=False))
        return nn.Sequential(*layers)

    ctx = make_ctx(lambda: factory(False), input_shape=(1, 1, d), num_classes=c)
    net = ctx.build()
    path = np.abs(_np(net[2].weight)) @ np.abs(_np(net[1].weight)) @ np.ones(d)
    expected = math.log1p(2 * path.sum())
    assert synflow.score(ctx) == pytest.approx(expected, rel=1e-12)
    with_bn = make_ctx(lambda: factory(True), input_shape=(1, 1, d), num_classes=c)
    assert synflow.score(with_bn) == pytest.approx(expected, rel=1e-12)
    # Without BatchNorm layers both variants are the same computation.
    assert synflow_bn.score(ctx) == synflow.score(ctx)


def test_synflow_bn_keeps_batchnorm_and_the_estimators_ignore_the_batch():
    def factory():
        return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3),
                             nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2, bias=False))

    shape = (2, 4, 4)
    no_images = make_ctx(factory, None, input_shape=shape, num_classes=2)  # batch would raise
    with_images = make_ctx(factory, _batch(3, shape, 2, seed=7), input_shape=shape,
                           num_classes=2)
    for est in (synflow, synflow_bn, relu):
        assert est.score(no_images) == est.score(with_images)
    assert synflow_bn.score(no_images) != synflow.score(no_images)
    assert math.isfinite(synflow_bn.score(no_images))


def test_synflow_of_a_network_that_ignores_its_input_is_zero():
    def factory():
        lin = nn.Linear(3, 4, bias=False)
        nn.init.zeros_(lin.weight)
        return nn.Sequential(nn.Flatten(), lin, nn.Linear(4, 2))

    ctx = make_ctx(factory, input_shape=(1, 1, 3), num_classes=2)
    assert synflow.score(ctx) == 0.0 and synflow_bn.score(ctx) == 0.0


# --------------------------------------------------------------------------------------------
# NAS-Bench-201: structure, finiteness, reproducibility, sharing
# --------------------------------------------------------------------------------------------


def nb201_ctx(arch: str, batch, seed: int = 0, shared=None, planned=(),
              sharing=None) -> api.ArchContext:
    return api.ArchContext(
        spec=arch, space="nb201", dataset="cifar10", num_classes=10, input_shape=(3, 32, 32),
        seed=seed, device=torch.device("cpu"),
        builder=lambda s: nb201.build_network(arch, 10, s),
        batch_loader=(lambda: batch) if batch is not None else None, shared=shared,
        planned=planned, sharing=sharing,
    )


def _info(name: str) -> api.EstimatorInfo:
    from harness import registry

    return registry.get(name).info


@pytest.fixture(scope="module")
def cifar_batch(data_dir):
    from harness.data import cifar10_batch

    return cifar10_batch(12, 0, 0, data_dir=data_dir)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_relu_counts_nb201_operations(cell):
    """Two calls per ReLUConvBN (wrapper + inner ReLU): 15 cells' convs, 4 in the residual
    reductions; plus the final ReLU."""
    n_conv = sum(op.startswith("nor_conv") for op in nb201.parse(CELLS[cell]))
    assert relu.score(nb201_ctx(CELLS[cell], None)) == 2 * (15 * n_conv + 4) + 1


def _score_all(arch, batch, order, shared=None, seed=0):
    """Score ``order`` as the runner does: alone (a fresh store, only the estimator's own
    declared passes, and no sharing, so passes may free their graphs) when ``shared`` is None,
    else jointly on ``shared`` with the union of every estimator's declared passes."""
    joint_uses = {k for name in order for k in _info(name).uses}
    scores = {}
    for name in order:
        ctx = nb201_ctx(arch, batch if name not in DATA_FREE else None, seed=seed,
                        shared=shared if shared is not None else {},
                        planned=joint_uses if shared is not None else _info(name).uses,
                        sharing=shared is not None)
        scores[name] = PAPER_SET[name].score(ctx)
    return scores


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_scores_are_finite_on_nb201(cell, cifar_batch):
    x_before = cifar_batch[0].clone()
    scores = _score_all(CELLS[cell], cifar_batch, sorted(PAPER_SET), shared={})
    assert all(isinstance(v, float) and math.isfinite(v) for v in scores.values()), scores
    assert torch.equal(cifar_batch[0], x_before) and not cifar_batch[0].requires_grad
    if cell == "all_none":  # the degenerate cell gets each estimator's documented floor
        assert scores["synflow"] == scores["synflow_bn"] == 0.0
        assert scores["relu_logdet"] == -1.0
        assert scores["jacob_cov"] == jacob_cov.fully_correlated_score(len(cifar_batch[0]))
        assert scores["grad_norm"] == scores["snip"] == 0.0


@pytest.mark.parametrize("cell", ["mixed", "conv1x1", "cut_off"])
def test_one_forward_serves_every_gradient_proxy_bitwise(cifar_batch, cell):
    """The shared forward pass gives what each proxy gets alone, in any order."""
    arch = CELLS[cell]
    names = ["grad_norm", "snip", "fisher", "plain", "jacob_cov", "grasp", "relu_logdet"]
    alone = _score_all(arch, cifar_batch, names)
    for order in (names, names[::-1], names[3:] + names[:3]):
        shared: dict = {}
        assert _score_all(arch, cifar_batch, order, shared=shared) == alone
        assert passes.FORWARD_KEY in shared  # the gradient proxies shared one forward


@pytest.mark.parametrize("cell", ["mixed", "cut_off"])
def test_epe_nas_reads_jacob_covs_jacobian_bitwise(cifar_batch, cell, monkeypatch):
    """epe_nas takes its Jacobian from the shared forward pass. Alone or next to jacob_cov
    and grasp (in either order) it must give the bits of the reference's own pass: a fresh
    network, its own forward and one backward of ``ones`` to the images."""
    from estimators import epe_nas

    arch = CELLS[cell]
    x, y = cifar_batch
    net = nb201.build_network(arch, 10, 0).train()
    xr = x.detach().clone().requires_grad_(True)
    out = net(xr)
    (jac,) = torch.autograd.grad(out, xr, grad_outputs=torch.ones_like(out))
    expected = epe_nas.epe_from_jacobians(jac.reshape(len(x), -1), y, 10)
    expected = expected if math.isfinite(expected) else 0.0

    assert epe_nas.score(nb201_ctx(arch, cifar_batch)) == expected
    jacob_alone = jacob_cov.score(nb201_ctx(arch, cifar_batch))
    runs = []  # every Jacobian backward actually run
    original = passes.ForwardPass.input_jacobian
    monkeypatch.setattr(passes.ForwardPass, "input_jacobian",
                        lambda self: runs.append(1) or original(self))
    for before in (["jacob_cov", "grasp"], ["grasp"], []):
        runs.clear()
        shared: dict = {}
        planned = {k for n in before for k in _info(n).uses}
        for name in before:
            PAPER_SET[name].score(nb201_ctx(arch, cifar_batch, shared=shared, planned=planned))
        ctx = nb201_ctx(arch, cifar_batch, shared=shared, planned=planned)
        assert epe_nas.score(ctx) == expected
        # jacob_cov after epe_nas reads the same Jacobian and keeps its own bits
        assert jacob_cov.score(ctx) == jacob_alone
        assert len(runs) == 1  # one Jacobian backward serves both, whichever asked first


@pytest.mark.parametrize("cell", ["mixed", "conv1x1"])
def test_graspless_and_grasp_runs_give_the_ce_proxies_the_same_bits(cifar_batch, cell):
    """With GraSP in the run the CE proxies read GraSP's create-graph backward instead of
    running their own: the gradients and Fisher saliencies must be the same bits."""
    arch = CELLS[cell]
    ce = ["grad_norm", "snip", "fisher", "plain"]
    with_grasp: dict = {}
    joint = _score_all(arch, cifar_batch, ["grasp", *ce], shared=with_grasp)
    assert passes.GRAPH_GRADIENTS_KEY in with_grasp
    plain_store: dict = {}
    assert _score_all(arch, cifar_batch, ce, shared=plain_store) == {n: joint[n] for n in ce}
    assert passes.GRAPH_GRADIENTS_KEY not in plain_store  # no create-graph work without GraSP
    a = passes.ce_gradients(nb201_ctx(arch, cifar_batch, shared=with_grasp))
    b = passes.ce_gradients(nb201_ctx(arch, cifar_batch, shared=plain_store))
    for la, lb in zip(a, b, strict=True):
        assert torch.equal(la.grad, lb.grad) and torch.equal(la.fisher, lb.fisher), la.name
    assert any(float(la.fisher.sum()) > 0 for la in a)  # a real saliency, not all zeros


def test_the_shared_forward_pass_is_freed_with_its_store(cifar_batch):
    """Every consumer's backward has run; dropping the shared store must free the pass (its
    graph, activations and network). A hook holding the pass strongly made an uncollectable
    cycle through the autograd graph and leaked every cell's graph."""
    import gc
    import weakref

    shared: dict = {}
    _score_all(CELLS["mixed"], cifar_batch, ["grasp", "fisher", "jacob_cov", "relu_logdet"],
               shared=shared)
    fp = weakref.ref(shared[passes.FORWARD_KEY])
    net = weakref.ref(shared[passes.FORWARD_KEY].net)
    shared.clear()
    gc.collect()
    assert fp() is None and net() is None


def test_scores_are_reproducible_and_equal_alone_or_shared(cifar_batch):
    arch = CELLS["mixed"]
    names = sorted(PAPER_SET)
    shared: dict = {}
    together = _score_all(arch, cifar_batch, names, shared=shared)
    alone = _score_all(arch, cifar_batch, names)  # a fresh shared dict per estimator
    reversed_order = _score_all(arch, cifar_batch, names[::-1], shared={})
    assert together == alone == reversed_order  # bitwise: floats compared with ==
    other_seed = _score_all(arch, cifar_batch, ["snip", "synflow"], seed=1)
    assert other_seed["snip"] != together["snip"]
    assert other_seed["synflow"] != together["synflow"]
    # The ReLU kernel handed out through ctx.shared is read-only.
    kernel = passes.relu_kernel(nb201_ctx(arch, cifar_batch, shared=shared))
    with pytest.raises(ValueError):
        kernel[0, 0] = 0.0
