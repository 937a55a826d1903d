"""NAS-Bench-101, NAS-Bench-301 and NDS: specs, isomorphism, networks and their splits.

The networks are checked against the benchmarks' own numbers: NAS-Bench-101's
``trainable_parameters`` and NDS's ``ref_params`` / ``ref_flops`` must match exactly. Building
thousands of networks is slow even on the ``meta`` device, so the default run checks the
analytic counters on every row and the builders on a fixed sample that spans the whole range
(extremes included); ``-m slow`` builds every row.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness.data import load_table
from harness.flops import count_macs
from harness.spaces import get_space, nb101, nb101_cells, nb301, nds, space_names
from harness.splits import load_split

NEW_SPACES = ("nb101", "nb301", "nds_resnet", "nds_resnexta")
N_CHUNKS = 10  # the slow all-row checks are split so that pytest-xdist can spread them


def _spread(values: np.ndarray, n: int) -> list[int]:
    """Row ids at ``n`` evenly spaced ranks of ``values`` (so min and max are included)."""
    order = np.argsort(values, kind="stable")
    return sorted({int(order[p]) for p in np.round(np.linspace(0, len(values) - 1, n)).astype(int)})


def _n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


@pytest.fixture(scope="module")
def nb101_rows(data_dir):
    return load_table("nb101", data_dir).to_dict("records")


@pytest.fixture(scope="module")
def nb301_rows(data_dir):
    return load_table("nb301", data_dir).to_dict("records")


@pytest.fixture(scope="module", params=["nds_resnet", "nds_resnexta"])
def nds_table(request, data_dir):
    return request.param, load_table(request.param, data_dir)


# --------------------------------------------------------------------------------------------
# Registration and splits
# --------------------------------------------------------------------------------------------


def test_spaces_are_registered():
    names = space_names()
    for name in NEW_SPACES:
        assert name in names
        space = get_space(name)
        assert space.name == name and space.table == name


SPLITS = {
    "nb101": ("nb101-5k", "nb101-1k", "nb101-smoke"),
    "nb301": ("nb301-5896", "nb301-1k", "nb301-smoke"),
    "nds_resnet": ("nds-resnet-5k", "nds-resnet-1k", "nds-resnet-smoke"),
    "nds_resnexta": ("nds-resnexta-5k", "nds-resnexta-1k", "nds-resnexta-smoke"),
}


@pytest.mark.parametrize("space_name", sorted(SPLITS))
def test_splits_load(space_name, data_dir):
    full, one_k, smoke = (load_split(n) for n in SPLITS[space_name])
    n_rows = load_table(space_name, data_dir).shape[0]
    assert len(full) == n_rows and list(full.arch_ids) == list(range(n_rows))
    assert len(one_k) == 1000 and len(set(one_k.arch_ids)) == 1000
    assert 45 <= len(smoke) <= 50
    for split in (full, one_k, smoke):
        assert split.benchmark == space_name and split.dataset == "cifar10"
        specs, truth = split.specs(data_dir), split.ground_truth(data_dir)
        assert len(specs) == len(truth) == len(split) and np.isfinite(truth).all()
    # The smoke split spans the ground truth from worst to best.
    all_truth = full.ground_truth(data_dir)
    smoke_truth = smoke.ground_truth(data_dir)
    assert smoke_truth.min() == all_truth.min() and smoke_truth.max() == all_truth.max()


def test_new_split_generation_is_reproducible(data_dir):
    from harness.splits import SPLIT_DIR
    from harness.splits.generate import nb101_splits, nb301_splits, nds_splits

    payloads = nb101_splits(data_dir) + nb301_splits(data_dir) + nds_splits(data_dir)
    assert sorted(p["name"] for p in payloads) == sorted(n for v in SPLITS.values() for n in v)
    for payload in payloads:
        committed = json.loads((SPLIT_DIR / f"{payload['name']}.json").read_text())
        assert committed["arch_ids"] == payload["arch_ids"], payload["name"]
        assert committed["ground_truth"] == payload["ground_truth"]


# --------------------------------------------------------------------------------------------
# NAS-Bench-101
# --------------------------------------------------------------------------------------------

C3, C1, MP = OPS101 = nb101_cells.OPS


def test_nb101_spec_round_trip(nb101_rows):
    for row in nb101_rows[:50]:
        spec = nb101_cells.spec_of_row(row)
        matrix, ops = nb101_cells.parse(spec)
        assert [list(r) for r in matrix] == row["adjacency"] and list(ops) == row["operations"]
        assert nb101_cells.format_spec(matrix, ops) == spec
    for bad in ("0100,0010,0001,0000|conv3x3-bn-relu", "01,00", "0110,0000,0001,0000|a,b",
                "11,00|"):
        with pytest.raises(ValueError):
            nb101_cells.parse(bad)


def test_nb101_prune_and_vertex_channels():
    # Vertex 2 is dangling (no path to the output): the benchmark deletes it.
    matrix = ((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0), (0, 0, 0, 0))
    pruned, ops = nb101_cells.prune(matrix, ("input", C3, MP, "output"))
    assert pruned == ((0, 1, 0), (0, 0, 1), (0, 0, 0)) and ops == ("input", C3, "output")
    with pytest.raises(ValueError):
        nb101_cells.prune(((0, 1, 0), (0, 0, 0), (0, 0, 0)), ("input", C3, "output"))
    # 128 output channels over 3 concatenated vertices: 43 + 43 + 42, earlier vertices first;
    # vertex 1 only feeds vertex 2 and inherits its channels.
    m = ((0, 1, 0, 1, 1, 0), (0, 0, 1, 0, 0, 0), (0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 1),
         (0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0))
    assert nb101.compute_vertex_channels(64, 128, m) == [64, 43, 43, 43, 42, 128]


def test_nb101_hash_matches_benchmark_invariances():
    # Cases from the benchmark's own graph_util tests.
    diamond = ((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0))
    assert nb101_cells.hash_module(diamond, [-1, 1, 2, -2]) == nb101_cells.hash_module(diamond, [-1, 2, 1, -2])
    m1 = ((0, 1, 1, 0, 0), (0, 0, 0, 0, 1), (0, 0, 0, 1, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0))
    m2 = ((0, 1, 0, 1, 0), (0, 0, 1, 0, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0))
    m3 = ((0, 1, 1, 0, 0), (0, 0, 0, 1, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0))
    h1 = nb101_cells.hash_module(m1, [-1, 1, 2, 3, -2])
    assert h1 == nb101_cells.hash_module(m2, [-1, 2, 3, 1, -2])
    assert h1 == nb101_cells.hash_module(m3, [-1, 2, 1, 3, -2])
    assert h1 != nb101_cells.hash_module(m1, [-1, 2, 3, 1, -2])
    chain = tuple(tuple(int(j == i + 1) for j in range(5)) for i in range(5))
    # Breaks if a vertex's own hash is left out of the refinement (benchmark's tricky case).
    h_a = nb101_cells.hash_module(chain, [-1, 1, 0, 0, -2])
    assert h_a != nb101_cells.hash_module(chain, [-1, 0, 0, 1, -2])
    # The same relabelling as specs: canonical strings agree, and a dangling vertex is ignored.
    s1 = nb101_cells.format_spec(m1, ("input", C1, MP, C3, "output"))
    s2 = nb101_cells.format_spec(m2, ("input", MP, C3, C1, "output"))
    assert nb101_cells.canonical(s1) == nb101_cells.canonical(s2)
    with_dangling = ((0, 1, 1, 0, 0, 1), (0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 1, 0),
                     (0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 0))
    plain = ((0, 1, 0, 1), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0))
    assert nb101_cells.canonical(
        nb101_cells.format_spec(with_dangling, ("input", C3, C1, MP, C3, "output"))
    ) == nb101_cells.canonical(nb101_cells.format_spec(plain, ("input", C1, C3, "output")))


def test_nb101_canonical_and_op_counts_on_table(nb101_rows):
    specs = [nb101_cells.spec_of_row(r) for r in nb101_rows[:300]]
    for spec in specs:
        counts = nb101_cells.op_counts(spec)
        assert set(counts) == set(OPS101)
        matrix, _ = nb101_cells.prune(*nb101_cells.parse(spec))
        assert sum(counts.values()) == len(matrix) - 2
    # Identical specs hash identically; the table repeats some cells.
    by_spec = {s: nb101_cells.canonical(s) for s in specs}
    assert len(set(by_spec.values())) == len(by_spec)


def test_nb101_analytic_params_match_benchmark_all_rows(nb101_rows):
    bad = [(r["arch_id"], nb101.count_parameters(nb101_cells.spec_of_row(r)), r["trainable_parameters"])
           for r in nb101_rows
           if nb101.count_parameters(nb101_cells.spec_of_row(r)) != r["trainable_parameters"]]
    assert not bad, f"{len(bad)} rows differ, e.g. {bad[:5]}"


def _nb101_builder_mismatches(rows) -> list:
    bad = []
    for r in rows:
        spec = nb101_cells.spec_of_row(r)
        n = _n_params(nb101.build_network(spec, device="meta"))
        if n != r["trainable_parameters"]:
            bad.append((r["arch_id"], n, r["trainable_parameters"]))
    return bad


def test_nb101_builder_params_match_benchmark_sample(nb101_rows):
    params = np.array([r["trainable_parameters"] for r in nb101_rows])
    ids = _spread(params, 200)
    assert int(params.argmin()) in ids and int(params.argmax()) in ids
    bad = _nb101_builder_mismatches([nb101_rows[i] for i in ids])
    assert not bad, f"{len(bad)} of {len(ids)} sampled rows differ, e.g. {bad[:5]}"


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(N_CHUNKS))
def test_nb101_builder_params_match_benchmark_all_rows(chunk, nb101_rows):
    bad = _nb101_builder_mismatches(nb101_rows[chunk::N_CHUNKS])
    assert not bad, f"{len(bad)} rows differ, e.g. {bad[:5]}"


def test_nb101_network_runs_and_is_seeded(nb101_rows):
    params = np.array([r["trainable_parameters"] for r in nb101_rows])
    spec = nb101_cells.spec_of_row(nb101_rows[int(params.argmin())])
    space = get_space("nb101")
    a, b = space.build(spec, seed=3), space.build(spec, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    bn = next(m for m in a.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert bn.momentum == pytest.approx(0.003) and bn.eps == 1e-5
    x = torch.randn(2, 3, 32, 32)
    out = a(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    # forward_pre_gap (used by zen) is the map the official network averages before the
    # classifier: the last stack's output, 512 channels at 8x8.
    a.eval()
    feats = a.forward_pre_gap(x)
    assert feats.shape == (2, 512, 8, 8)
    assert torch.equal(a.classifier(feats.mean(dim=(2, 3))), a(x))


# --------------------------------------------------------------------------------------------
# NDS ResNet / ResNeXt-A
# --------------------------------------------------------------------------------------------


def test_nds_spec_round_trip(nds_table):
    _, df = nds_table
    for row in df.head(50).to_dict("records"):
        spec = nds.spec_of_row(row)
        arch = nds.parse(spec)
        assert list(arch.depths) == row["depths"] and list(arch.widths) == row["widths"]
        assert nds.format_spec(arch) == spec == nds.canonical(spec)
        assert sum(nds.op_counts(spec).values()) >= sum(arch.depths)
    for bad in ("d=1,2|w=16,16,16", "w=16", "d=1|w=16|b=0.25", "d=1|w=16|b=0.25|g=3",
                "d=0|w=16"):
        with pytest.raises(ValueError):
            nds.parse(bad)


def test_nds_analytic_complexity_matches_reference_all_rows(nds_table):
    name, df = nds_table
    bad = []
    for row in df.to_dict("records"):
        got = nds.complexity(nds.spec_of_row(row))
        if got != (row["ref_params"], row["ref_flops"]):
            bad.append((row["arch_id"], got, (row["ref_params"], row["ref_flops"])))
    assert not bad, f"{name}: {len(bad)} rows differ, e.g. {bad[:5]}"


def _nds_builder_mismatches(rows) -> list:
    bad = []
    for row in rows:
        net = nds.build_network(nds.spec_of_row(row))
        got = (_n_params(net), nds.count_flops(net))
        if got != (row["ref_params"], row["ref_flops"]):
            bad.append((row["arch_id"], got, (row["ref_params"], row["ref_flops"])))
    return bad


def test_nds_builder_matches_reference_sample(nds_table):
    name, df = nds_table
    # Spread over parameters and over FLOPs, so both counts' extremes are covered.
    ids = set(_spread(df["ref_params"].to_numpy(), 24))
    ids |= set(_spread(df["ref_flops"].to_numpy(), 8))
    rows = df.iloc[sorted(ids)].to_dict("records")
    bad = _nds_builder_mismatches(rows)
    assert not bad, f"{name}: {len(bad)} of {len(rows)} sampled rows differ, e.g. {bad[:5]}"


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(N_CHUNKS))
def test_nds_builder_matches_reference_all_rows(chunk, nds_table):
    name, df = nds_table
    bad = _nds_builder_mismatches(df.iloc[chunk::N_CHUNKS].to_dict("records"))
    assert not bad, f"{name}: {len(bad)} rows differ, e.g. {bad[:5]}"


def test_nds_flops_rule_is_macs_plus_batchnorm():
    # count_macs ignores BN; the NDS reference counts 5 ops per BN output element on top.
    spec = "d=1,1,1|w=16,32,64|b=0.25,0.5,1.0|g=1,2,4"
    net = nds.build_network(spec, seed=0)
    bn_elements = 16 * 32 * 32  # stem
    for w_b, w, hw_in, hw in ((4, 16, 32, 32), (16, 32, 32, 16), (64, 64, 16, 8)):
        bn_elements += w_b * hw_in**2 + w_b * hw**2 + w * hw**2
    bn_elements += 32 * 16**2 + 64 * 8**2  # projections of stages 2 and 3 (stage 1 keeps 16)
    assert nds.count_flops(net) == count_macs(net) + 5 * bn_elements == nds.complexity(spec)[1]
    groups = [m.groups for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert groups == [2, 4]


def test_nds_networks_run_and_are_seeded():
    for spec in ("d=1,1,1|w=16,24,32", "d=1,2,1|w=16,32,16|b=0.25,0.5,1.0|g=1,2,4"):
        a, b = nds.build_network(spec, seed=1), nds.build_network(spec, seed=1)
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
        out = a(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, 10) and torch.isfinite(out).all()


# --------------------------------------------------------------------------------------------
# NAS-Bench-301
# --------------------------------------------------------------------------------------------


def test_nb301_darts_v2_has_the_papers_parameter_count():
    # DARTS (Liu et al., ICLR 2019), Table 1: DARTS (second order) at 36 initial channels and
    # 20 cells has 3.3 M parameters (excluding the auxiliary head, as DARTS counts them).
    net = nb301.build_network(nb301.DARTS_V2, channels=36, layers=20, device="meta")
    n = _n_params(net)
    assert round(n / 1e6, 1) == 3.3
    assert n == 3_349_342  # the exact figure DARTS's training script logs for this genotype


def test_nb301_specs_of_every_row(nb301_rows):
    specs = [nb301.spec_of_row(r) for r in nb301_rows]
    for spec, row in zip(specs, nb301_rows, strict=True):
        normal, reduce = nb301.parse(spec)
        assert nb301.format_spec((normal, reduce)) == spec
        assert [[op, src] for op, src in normal] == [[op, src] for op, src, _ in row["normal"]]
        assert sum(nb301.op_counts(spec).values()) == 16
    # The table repeats genotypes (5,468 distinct); no two distinct ones are isomorphic.
    assert len(set(specs)) == len({nb301.canonical(s) for s in specs}) == 5468
    for bad in ("sep_conv_3x3~0|max_pool_3x3~0", "foo~0," * 7 + "foo~0|" + "skip_connect~0," * 8,
                ",".join(["sep_conv_3x3~2"] * 8) + "|" + ",".join(["skip_connect~0"] * 8)):
        with pytest.raises(ValueError):
            nb301.parse(bad)
    with pytest.raises(ValueError):
        nb301.cell_of_triples([["skip_connect", 0, 2]] * 3 + [["skip_connect", 0, 3]] * 5)


def test_nb301_canonical_invariances():
    normal = (("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("dil_conv_3x3", 0), ("max_pool_3x3", 1),
              ("sep_conv_3x3", 2), ("skip_connect", 3), ("avg_pool_3x3", 2), ("dil_conv_5x5", 3))
    reduce = nb301.DARTS_V2[1]
    base = nb301.canonical(nb301.format_spec((normal, reduce)))
    # Swapping the two inputs of a node changes nothing (the node is a sum).
    swapped = (normal[1], normal[0]) + normal[2:]
    assert nb301.canonical(nb301.format_spec((swapped, reduce))) == base
    # Renumbering independent intermediate nodes (2 <-> 3: neither uses the other) changes
    # nothing either, once the references to them are renumbered too.
    renum = {2: 3, 3: 2}
    moved = tuple((op, renum.get(src, src)) for op, src in normal[2:4] + normal[0:2] + normal[4:])
    assert nb301.canonical(nb301.format_spec((moved, reduce))) == base
    # Other ops, or other wiring, give another class.
    other = (("sep_conv_5x5", 0),) + normal[1:]
    assert nb301.canonical(nb301.format_spec((other, reduce))) != base
    rewired = normal[:4] + (("sep_conv_3x3", 3), ("skip_connect", 2)) + normal[6:]
    assert nb301.canonical(nb301.format_spec((rewired, reduce))) != base
    # skip_connect on a cell input is an identity in a normal cell but a FactorizedReduce in a
    # reduction cell, so the same cell is canonicalised differently in the two roles.
    with_skip = (("skip_connect", 0),) + normal[1:]
    assert nb301._cell_canonical(with_skip, False) != nb301._cell_canonical(with_skip, True)


def test_nb301_builds_sample_and_runs(nb301_rows):
    specs = [nb301.spec_of_row(r) for r in nb301_rows]
    for i in np.linspace(0, len(specs) - 1, 24).astype(int):
        net = nb301.build_network(specs[i], device="meta")
        assert len(net.cells) == 8 and net.classifier.in_features == 4 * 128
    reductions = [c.reduction for c in net.cells]
    assert reductions == [False, False, True, False, False, True, False, False]
    for i in (0, len(specs) // 2):
        a, b = nb301.build_network(specs[i], seed=5), nb301.build_network(specs[i], seed=5)
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
        out = a(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, 10) and torch.isfinite(out).all()


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(N_CHUNKS))
def test_nb301_every_genotype_builds(chunk, nb301_rows):
    for row in nb301_rows[chunk::N_CHUNKS]:
        net = nb301.build_network(nb301.spec_of_row(row), device="meta")
        assert net.classifier.out_features == 10
