"""Tests of the 2024-25 estimators: az_nas, swap, vkdnw and vkdnw_agg (issue #30).

Every component is checked on a tiny network or tensor against a value computed by hand or by
an independent NumPy / torch.func computation; every aggregation on a small hand-made
population with ties and failures; and each estimator scores one real network of every search
space it applies to (the smallest of the space's smoke split, real CIFAR-10 images, one
thread). The aggregations are also checked to be handed nothing that can reach accuracies.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from estimators import az_nas, swap, vkdnw, vkdnw_agg
from harness import api, toolkit

SOTA = ("az_nas", "swap", "vkdnw", "vkdnw_agg")


def make_ctx(factory, x=None, y=None, *, input_shape=(3, 4, 4), num_classes=2, seed=0,
             batch_index=0, spec="tiny", space="test", shared=None):
    """An ArchContext around ``factory()`` built under a private seeded RNG state."""

    def builder(s):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            return factory()

    loader = None if x is None else (lambda: (x, y))
    return api.ArchContext(
        spec=spec, space=space, dataset="cifar10", num_classes=num_classes,
        input_shape=input_shape, seed=seed, device=torch.device("cpu"), builder=builder,
        batch_loader=loader, batch_index=batch_index, shared=shared,
    )


def population(components: dict[str, list[float]], space="test") -> api.Population:
    n = len(next(iter(components.values())))
    arrays = {}
    for k, v in components.items():
        a = np.asarray(v, dtype=np.float64)
        a.setflags(write=False)
        arrays[k] = a
    return api.Population(components=arrays, specs=tuple(f"arch{i}" for i in range(n)),
                          space=space, dataset="cifar10", seed=0)


# --------------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SOTA)
def test_registered_with_components_and_aggregate(name):
    est = api.ESTIMATORS.get(name)
    info = est.info
    assert info.kind == "zero-shot" and info.version == ("2" if name == "swap" else "1")
    assert info.paper is not None and info.paper.bibtex.startswith("@")
    expected = {
        "az_nas": az_nas.COMPONENTS, "swap": (), "vkdnw": (),
        "vkdnw_agg": vkdnw_agg.COMPONENTS,
    }[name]
    assert info.components == tuple(expected)
    assert (est.aggregate is not None) == bool(expected)
    assert info.needs_images == (name in {"swap", "vkdnw_agg"})


# --------------------------------------------------------------------------------------------
# AZ-NAS components
# --------------------------------------------------------------------------------------------


def _np_entropy(feat: np.ndarray) -> float:
    c = feat.shape[1]
    rows = np.moveaxis(feat, 1, -1).reshape(-1, c).astype(np.float64)
    rows = rows - rows.mean(axis=0)
    cov = rows.T @ rows / rows.shape[0]
    s = np.linalg.eigvalsh(cov)
    p = s / s.sum()
    return float(np.sum(-p * np.log(p + 1e-8)))


def test_feature_entropy_matches_numpy():
    gen = torch.Generator().manual_seed(1)
    feat = torch.randn(3, 4, 5, 5, generator=gen) * torch.tensor([1.0, 2.0, 0.5, 3.0])[:, None,
                                                                                          None]
    assert az_nas.feature_entropy(feat) == pytest.approx(_np_entropy(feat.numpy()), rel=1e-12)


def test_feature_entropy_of_isotropic_channels_is_log_c():
    # Two channels, uncorrelated with equal variance: the eigenvalues are equal, p = (1/2, 1/2).
    feat = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])[:, :, None, None]
    assert az_nas.feature_entropy(feat) == pytest.approx(-math.log(0.5 + 1e-8), rel=1e-12)


def test_pair_trainability_by_hand_and_numpy():
    # g_in = 2 g_out with one channel of ±1 signs: M = 2 mean(g²) = 2, t = 2 - 2 - 1/(2 + 1e-6).
    g_out = torch.tensor([1.0, -1.0, 1.0, 1.0]).reshape(1, 1, 2, 2)
    assert az_nas.pair_trainability(g_out, 2 * g_out) == pytest.approx(-1 / (2 + 1e-6), rel=1e-12)
    # Identity: -inf, as in the official code.
    assert az_nas.pair_trainability(g_out, g_out.clone()) == -math.inf
    # Spatial reduction: g_in (2 ch, 4x4) is pixel-unshuffled by 2 into 8 channels at 2x2.
    gen = torch.Generator().manual_seed(3)
    g_out = torch.randn(2, 3, 2, 2, generator=gen)
    g_in = torch.randn(2, 2, 4, 4, generator=gen)
    gi = g_in.numpy().reshape(2, 2, 2, 2, 2, 2).transpose(0, 1, 3, 5, 2, 4).reshape(2, 8, 2, 2)
    gi = gi.transpose(0, 2, 3, 1).reshape(-1, 8).astype(np.float64)
    go = g_out.numpy().transpose(0, 2, 3, 1).reshape(-1, 3).astype(np.float64)
    smax = np.linalg.svd(gi.T @ go / go.shape[0], compute_uv=False).max()
    assert az_nas.pair_trainability(g_out, g_in) == pytest.approx(
        2 - smax - 1 / (smax + 1e-6), rel=1e-12)


class Scale(nn.Module):
    def __init__(self, k: float):
        super().__init__()
        self.k = k

    def forward(self, x):
        return x * self.k


class TinyCells(nn.Module):
    """stem (1x1 conv, 3 -> 1 channel, no bias) followed by the given cells."""

    def __init__(self, *cells: nn.Module):
        super().__init__()
        self.stem = nn.Conv2d(3, 1, 1, bias=False)
        self.cells = nn.Sequential(*cells)

    def forward(self, x):
        return self.cells(self.stem(x))


class TinyClassifier(TinyCells):
    """TinyCells with a global-average-pool and linear head (logits for VKDNW / jacov)."""

    def __init__(self, *cells: nn.Module):
        super().__init__(*cells)
        self.fc = nn.Linear(1, 2)

    def forward(self, x):
        return self.fc(super().forward(x).mean(dim=(2, 3)))


def test_az_nas_components_by_hand():
    # One channel everywhere: every feature entropy is -log(1 + 1e-8) (p = [1]), so
    # expressivity = 3 of those, progressivity = 0; the ×2 cell scores -1/(2 + 1e-6) and the
    # ×3 cell -(1/(3 + 1e-6) + 1); complexity = 3·1 MACs at each of the 16 positions.
    ctx = make_ctx(lambda: TinyCells(Scale(2.0), Scale(3.0)))
    c = az_nas.score(ctx)
    assert c["expressivity"] == pytest.approx(-3 * math.log(1 + 1e-8), abs=1e-15)
    assert c["progressivity"] == 0.0
    t2, t3 = -1 / (2 + 1e-6), 2 - 3 - 1 / (3 + 1e-6)
    assert c["trainability"] == pytest.approx((t2 + t3) / 2, rel=1e-12)
    assert c["complexity"] == 48.0


def test_az_nas_identity_cell_ranks_lowest_but_finite():
    ctx = make_ctx(lambda: TinyCells(Scale(2.0), nn.Identity()))
    assert az_nas.score(ctx)["trainability"] == az_nas.NEG_INF_SCORE


def test_az_nas_expressivity_of_a_real_feature_matches_numpy():
    class Wide(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, padding=1, bias=False)
            self.cells = nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 1))

        def forward(self, x):
            return self.cells(self.stem(x))

    ctx = make_ctx(Wide)
    net = ctx.build()
    gen = az_nas.generator_for("az_nas", 0, 0)
    az_nas.kaiming_normal_fanin_(net, gen)
    x = torch.randn((az_nas.BATCH_SIZE, 3, 4, 4), generator=gen)
    with torch.no_grad():
        f0 = net.stem(x)
        f1 = net.cells[0](f0)
        f2 = net.cells[1](f1)
    ents = [_np_entropy(f.numpy()) for f in (f0, f1, f2)]
    c = az_nas.score(ctx)
    assert c["expressivity"] == pytest.approx(sum(ents), rel=1e-9)
    assert c["progressivity"] == pytest.approx(min(ents[1] - ents[0], ents[2] - ents[1]),
                                               abs=1e-9)


def test_kaiming_init_matches_its_definition():
    lin = nn.Linear(50, 400)
    az_nas.kaiming_normal_fanin_(lin, torch.Generator().manual_seed(0))
    assert float(lin.bias.detach().abs().max()) == 0.0
    assert float(lin.weight.detach().std()) == pytest.approx(math.sqrt(2 / 50), rel=0.03)


def test_gaussian_init_draws_in_module_order_and_resets_affine_norms():
    net = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3), nn.BatchNorm2d(3, affine=False),
                        nn.GroupNorm(1, 3), nn.Flatten(), nn.Linear(3, 2))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(5.0)
    toolkit.gaussian_init_(net, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    assert torch.equal(net[0].weight, torch.randn((3, 2, 1, 1), generator=gen))
    assert torch.equal(net[5].weight, torch.randn((2, 3), generator=gen))
    assert not net[0].bias.detach().any() and not net[5].bias.detach().any()
    for norm in (net[1], net[3]):
        assert torch.equal(norm.weight, torch.ones(3)) and not norm.bias.detach().any()
    assert net[2].weight is None  # affine-free: nothing to reset


def test_az_nas_aggregate_by_hand():
    pop = population({
        "expressivity": [1.0, 2.0, 2.0, math.nan],   # ranks 2, 3.5, 3.5, 1 (NaN lowest)
        "progressivity": [4.0, 3.0, 2.0, 1.0],       # ranks 4, 3, 2, 1
        "trainability": [0.0, 0.0, 0.0, 0.0],        # all tied: 2.5
        "complexity": [10.0, 20.0, 30.0, 40.0],      # ranks 1, 2, 3, 4
    })
    ranks = np.array([[2, 4, 2.5, 1], [3.5, 3, 2.5, 2], [3.5, 2, 2.5, 3], [1, 1, 2.5, 4]])
    expected = np.log(ranks / 4).sum(axis=1)
    got = az_nas.aggregate(pop)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got.dtype == np.float64 and np.all(np.isfinite(got))
    np.testing.assert_array_equal(az_nas.aggregate(pop), got)  # deterministic


# --------------------------------------------------------------------------------------------
# VKDNW components
# --------------------------------------------------------------------------------------------


def test_covariance_factor_two_classes_by_hand():
    # p = (1/2, 1/2) stays so after smoothing: q1 = 1/2, d1 = sqrt(1/4) = 1/2, d2 = 0 and
    # T21 = -p2/q1 = -1, so L = [[1/2, 0], [-1/2, 0]], and L L^T = cov = [[1, -1], [-1, 1]]/4.
    lfac = vkdnw.covariance_factor(torch.zeros(1, 2))
    np.testing.assert_allclose(lfac[0].numpy(), [[0.5, 0.0], [-0.5, 0.0]], atol=1e-15)


def test_covariance_factor_reproduces_the_covariance():
    logits = torch.randn(5, 10, generator=torch.Generator().manual_seed(0)) * 3
    lfac = vkdnw.covariance_factor(logits).numpy()
    p = torch.softmax(logits.double(), 1).numpy() * (1 - vkdnw.ALPHA) + vkdnw.ALPHA / 10
    cov = np.stack([np.diag(r) - np.outer(r, r) for r in p])
    # The official factor passes the official back-test (max error below 1e-3).
    assert np.abs(lfac @ lfac.transpose(0, 2, 1) - cov).max() < 1e-3
    assert np.all(lfac[:, :, -1] == 0.0)  # why the last class's backward can be skipped
    assert np.all(np.triu(lfac[0], 1) == 0.0)


def test_alpha_is_the_official_float16_rounding():
    assert vkdnw.ALPHA == 0.04998779296875


def test_spectrum_entropy_by_hand():
    # Equal eigenvalues: all nine deciles equal, entropy = ln 9 (up to the 1e-10 guards).
    assert vkdnw.spectrum_entropy(np.full(20, 3.0)) == pytest.approx(math.log(9), rel=1e-9)
    lam = np.arange(11.0)  # deciles of 0..10 are exactly 1..9
    t = np.arange(1.0, 10.0) / 45.0
    assert vkdnw.spectrum_entropy(lam) == pytest.approx(float(-(t * np.log(t)).sum()),
                                                        rel=1e-9)


def test_fisher_matrix_matches_numpy():
    gen = torch.Generator().manual_seed(2)
    jac = torch.randn(3, 4, 5, generator=gen)
    lfac = torch.randn(3, 4, 4, generator=gen, dtype=torch.float64)
    a = np.einsum("nrc,ncp->nrp", lfac.numpy(), jac.double().numpy())
    expected = np.einsum("nrp,nrq->pq", a, a) / 3
    np.testing.assert_allclose(vkdnw.fisher_matrix(jac, lfac).numpy(), expected, rtol=1e-12)


class ConvBNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1),
                                  nn.BatchNorm2d(4), nn.ReLU(inplace=True))
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = torch.relu_(self.bn(self.conv(self.stem(x))))
        return self.fc(x.mean(dim=(2, 3)))


def test_selected_jacobian_matches_torch_func():
    net = ConvBNNet()
    az_nas.kaiming_normal_fanin_(net, torch.Generator().manual_seed(0))
    with torch.no_grad():  # non-trivial running statistics, so the BN formula is exercised
        for bn in (net.stem[1], net.bn):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    net.eval()
    x = torch.randn(5, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    fast, logits = vkdnw.selected_jacobian(net, x)
    ref = vkdnw.selected_jacobian_functional(net, x)
    assert fast.shape == ref.shape == (5, 3, len(list(net.parameters())))
    np.testing.assert_allclose(fast.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logits.numpy(), net(x).detach().numpy(), rtol=1e-6)
    skipped, _ = vkdnw.selected_jacobian(net, x, skip_last_class=True)
    assert torch.equal(skipped[:, :2], fast[:, :2]) and float(skipped[:, 2].abs().max()) == 0
    # Only the first `count` tensors are chosen.
    assert vkdnw.selected_jacobian(net, x, count=4)[0].shape[2] == 4


class SharedConvNet(nn.Module):
    """One conv applied twice (weight sharing): its chosen scalar's derivative is the sum over
    both calls, whose gradients reach the backward pass in the reverse of forward order."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(torch.relu(self.conv(x)))).mean(dim=(2, 3)))


def test_selected_jacobian_sums_a_shared_layers_calls():
    net = SharedConvNet()
    az_nas.kaiming_normal_fanin_(net, torch.Generator().manual_seed(2))
    net.eval()
    x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(3))
    fast, _ = vkdnw.selected_jacobian(net, x)
    ref = vkdnw.selected_jacobian_functional(net, x)
    np.testing.assert_allclose(fast.numpy(), ref.numpy(), rtol=1e-4, atol=1e-6)
    assert not x.requires_grad  # the caller's batch is left as it was


def test_single_score_is_lexicographic():
    assert vkdnw.single_score(math.log(9), 10) < vkdnw.single_score(0.0, 11)
    assert vkdnw.single_score(0.5, 10) < vkdnw.single_score(0.6, 10)
    assert vkdnw.single_score(0.0, 7) == 7.0


def test_vkdnw_score_on_tiny_net():
    ctx = make_ctx(ConvBNNet, input_shape=(3, 6, 6), num_classes=3)
    s = vkdnw.score(ctx)
    layers = len(list(ConvBNNet().parameters()))  # 2 + 2 + 1 + 2 + 2 tensors = 9
    assert layers == 9 and 9.0 <= s < 9.5
    assert vkdnw.score(make_ctx(ConvBNNet, input_shape=(3, 6, 6), num_classes=3)) == s
    other = vkdnw.score(make_ctx(ConvBNNet, input_shape=(3, 6, 6), num_classes=3, batch_index=1))
    assert other != s  # each batch index is a different draw


# --------------------------------------------------------------------------------------------
# SWAP
# --------------------------------------------------------------------------------------------


def test_count_distinct_patterns_by_hand():
    codes = np.array([[1, 1, 0, 0, 1],
                      [0, 0, 1, 0, 0],
                      [1, 1, 0, 0, 1]], dtype=bool)  # columns: a a b c a -> 3 patterns
    assert swap.count_distinct_patterns(codes) == 3
    assert swap.count_distinct_patterns(np.zeros((20, 0), dtype=bool)) == 0
    wide = np.random.default_rng(0).random((20, 500)) > 0.5  # N > 8: several bytes per pattern
    assert swap.count_distinct_patterns(wide) == len({tuple(c) for c in wide.T})


class ReluOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = nn.ReLU()
        self.fc = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.act(x), 1))


def test_swap_score_by_hand():
    # The only ReLU sees the images themselves: a unit fires on image n iff the pixel is > 0.
    x = torch.randn(20, 3, 4, 4, generator=torch.Generator().manual_seed(5))
    x[:, 0, 0, 0] = 1.0
    x[:, 0, 0, 1] = 1.0  # two identical always-on units
    y = torch.zeros(20, dtype=torch.long)
    c = swap.score(make_ctx(ReluOnly, x, y))
    codes = (x[: swap.INPUT_SAMPLES] > 0).reshape(swap.INPUT_SAMPLES, -1).numpy()
    assert c == float(len({tuple(col) for col in codes.T}))  # raw SWAP: no invented constants
    assert swap.params_in_thousands(ReluOnly()) == (48 * 2 + 2) / 1e3


def test_swap_regular_factor_by_hand():
    # The paper's exp(-(Θ - μ)² / σ): 1 at the centre, e^-1 where (Θ - μ)² = σ.
    assert swap.regular_factor(2.0, 2.0, 0.5) == 1.0
    assert swap.regular_factor(3.0, 2.0, 1.0) == pytest.approx(math.exp(-1.0), rel=1e-15)
    assert swap.regular_factor(0.0, 2.0, 2.0) == pytest.approx(math.exp(-2.0), rel=1e-15)


# --------------------------------------------------------------------------------------------
# VKDNW_agg
# --------------------------------------------------------------------------------------------


def test_vkdnw_agg_aggregate_by_hand():
    pop = population({
        "vkdnw": [5.0, 5.0, 7.0, math.nan],          # dense ranks 2, 2, 3, 1
        "jacov": [1.0, 2.0, 3.0, 4.0],               # 1, 2, 3, 4
        "expressivity": [2.0, 1.0, 1.0, 3.0],        # 3, 1.5, 1.5, 4
        "trainability": [math.nan, 0.0, 1.0, 2.0],   # 1, 2, 3, 4
        "complexity": [4.0, 3.0, 2.0, 1.0],          # 4, 3, 2, 1
    })
    ranks = np.array([[2, 1, 3, 1, 4], [2, 2, 1.5, 2, 3], [3, 3, 1.5, 3, 2], [1, 4, 4, 4, 1]])
    np.testing.assert_allclose(vkdnw_agg.aggregate(pop), np.log(ranks).sum(axis=1),
                               rtol=0, atol=1e-12)


def test_vkdnw_agg_components_equal_the_single_estimators():
    x = torch.randn(8, 3, 4, 4, generator=torch.Generator().manual_seed(7))
    y = torch.zeros(8, dtype=torch.long)
    shared: dict = {}
    def factory():
        return TinyClassifier(Scale(2.0), Scale(3.0))

    ctx = make_ctx(factory, x, y, shared=shared)
    c = vkdnw_agg.score(ctx)
    alone_az = az_nas.score(make_ctx(factory, x, y))
    alone_vk = vkdnw.score(make_ctx(factory, x, y))
    assert c["vkdnw"] == alone_vk
    for k in ("expressivity", "trainability", "complexity"):
        assert c[k] == alone_az[k]
    assert az_nas.SHARED_KEY in shared and vkdnw.SHARED_KEY in shared  # computed once, shared
    assert math.isfinite(c["jacov"])


def test_jacov_matches_numpy():
    x = torch.randn(6, 3, 4, 4, generator=torch.Generator().manual_seed(8))
    y = torch.zeros(6, dtype=torch.long)

    def factory():
        return nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Tanh(), nn.Flatten(),
                             nn.Linear(32, 2))

    ctx = make_ctx(factory, x, y)
    net = ctx.build()
    az_nas.kaiming_normal_fanin_(net, az_nas.generator_for("jacov", 0, 0))
    xg = x.clone().requires_grad_(True)
    net(xg).sum().backward()
    rows = xg.grad.reshape(6, -1).double().numpy()
    lam = np.linalg.eigvalsh(np.corrcoef(rows))
    expected = -np.sum(np.log(lam + 1e-5) + 1 / (lam + 1e-5))
    assert vkdnw_agg.jacov_kaiming(ctx) == pytest.approx(expected, rel=1e-9)


# --------------------------------------------------------------------------------------------
# ensembles must not peek
# --------------------------------------------------------------------------------------------


def test_population_holds_only_components_and_specs():
    fields = {f.name for f in dataclasses.fields(api.Population)}
    assert fields == {"components", "specs", "space", "dataset", "seed"}


@pytest.mark.parametrize("name", ["az_nas", "vkdnw_agg"])
def test_aggregate_needs_nothing_but_the_population(name):
    est = api.ESTIMATORS.get(name)
    comps = {c: [1.0, 2.0, 3.0] for c in est.info.components}
    pop = population(comps)
    # Everything reachable from the population: float arrays, spec strings, names, a seed.
    for f in dataclasses.fields(pop):
        value = getattr(pop, f.name)
        if f.name == "components":
            assert all(isinstance(v, np.ndarray) and v.dtype == np.float64
                       for v in value.values())
        elif f.name == "specs":
            assert all(isinstance(s, str) for s in value)
        else:
            assert isinstance(value, (str, int))
    out = np.asarray(est.aggregate(pop))
    assert out.shape == (3,) and np.all(np.isfinite(out))
    assert np.all(np.diff(out) > 0)  # every component increasing: the order follows it
    for v in pop.components.values():
        assert not v.flags.writeable  # and the aggregate did not need to write to them


# --------------------------------------------------------------------------------------------
# one real network of every space
# --------------------------------------------------------------------------------------------

SMOKE_SPLITS = ("nb201-c10-smoke", "nb101-smoke", "nb301-smoke", "nds-resnet-smoke",
                "nds-resnexta-smoke")


@pytest.fixture(scope="module")
def smallest_networks(data_dir):
    from harness.data import cifar10_batch
    from harness.spaces import get_space
    from harness.splits import load_split

    x, y = cifar10_batch(16, 0, 20, data_dir=data_dir)
    out = {}
    for name in SMOKE_SPLITS:
        split = load_split(name)
        space = get_space(split.benchmark)
        specs = split.specs(data_dir)
        sizes = [sum(p.numel() for p in space.build(s, split.dataset, 0).parameters())
                 for s in specs[:20]]
        spec = specs[int(np.argmin(sizes))]
        out[name] = (split, space, spec)
    return out, (x, y)


@pytest.mark.parametrize("split_name", SMOKE_SPLITS)
def test_every_sota_estimator_scores_a_real_network(split_name, smallest_networks, monkeypatch):
    # 8 random images instead of the runs' 64 keep this test short (VKDNW's per-class
    # backward passes dominate); the code path is the same.
    monkeypatch.setattr(az_nas, "BATCH_SIZE", 8)
    monkeypatch.setattr(vkdnw, "BATCH_SIZE", 8)
    nets, (x, y) = smallest_networks
    split, space, spec = nets[split_name]
    shared: dict = {}
    for name in SOTA:
        est = api.ESTIMATORS.get(name)
        if not est.info.applies_to(split.benchmark):
            continue
        ctx = api.ArchContext(
            spec=spec, space=split.benchmark, dataset=split.dataset, num_classes=10,
            input_shape=(3, 32, 32), seed=20, device=torch.device("cpu"),
            builder=lambda s, spec=spec: space.build(spec, split.dataset, s),
            batch_loader=lambda: (x, y), shared=shared)
        value = est.score(ctx)
        values = value.values() if isinstance(value, dict) else [value]
        assert all(math.isfinite(v) for v in values), (name, split_name, value)
        if isinstance(value, dict):
            assert set(value) == set(est.info.components)


@pytest.mark.parametrize("split_name", SMOKE_SPLITS)
def test_vkdnw_fast_jacobian_equals_the_official_path_on_every_space(split_name,
                                                                      smallest_networks):
    """The estimator's per-class backward passes (:func:`vkdnw.selected_jacobian`) against
    the official ``vmap(jacrev(functional_call))`` (kept as the slow reference), on a real
    network of each space, initialised and put in eval mode as the estimator does. 3 images
    keep the reference's per-image Jacobians affordable; the code path is the runs'."""
    nets, _ = smallest_networks
    split, space, spec = nets[split_name]
    gen = torch.Generator().manual_seed(0)
    net = space.build(spec, split.dataset, 20)
    az_nas.kaiming_normal_fanin_(net, gen)
    net.eval()
    x = torch.randn((3, 3, 32, 32), generator=gen)
    fast, logits = vkdnw.selected_jacobian(net, x)
    ref = vkdnw.selected_jacobian_functional(net, x)
    assert fast.shape == ref.shape == (3, 10, min(vkdnw.PARAMS_GRAD_LEN,
                                                  len(list(net.parameters()))))
    scale = float(ref.abs().max())
    assert scale > 0
    np.testing.assert_allclose(fast.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(logits.numpy(), net(x).detach().numpy(), rtol=1e-5, atol=1e-6)
