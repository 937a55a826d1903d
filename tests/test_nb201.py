"""NAS-Bench-201 space: strings, enumeration, isomorphism, the network and its costs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import data
from harness.flops import count_macs
from harness.spaces import nb201

ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SMALLEST = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_parse_format_roundtrip():
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    cell = nb201.parse(s)
    assert cell == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect",
                    "nor_conv_3x3", "skip_connect")
    assert nb201.format_cell(cell) == s


@pytest.mark.parametrize("bad", ["", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                 "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
                                 "|none~0|+|none~0|+|none~0|none~1|none~2|"])
def test_parse_rejects_malformed(bad):
    with pytest.raises(ValueError):
        nb201.parse(bad)


def test_enumeration_matches_the_official_table(data_dir):
    cells = list(nb201.enumerate_cells())
    assert len(cells) == 15625 == len(set(cells))
    df = data.load_table("nb201", data_dir)
    official = [nb201.parse(s) for s in df["arch_str"]]
    # The official index order is a permutation of the enumeration, fixed by the table.
    assert set(official) == set(cells)
    assert list(df["index"]) == list(range(15625))
    assert [nb201.format_cell(c) for c in official] == list(df["arch_str"])


def test_isomorphism_classes_number_6466():
    classes = {nb201.canonical(c) for c in nb201.enumerate_cells()}
    assert len(classes) == 6466


def test_isomorphism_rule_by_hand():
    # Summands commute: swapping which edge into node 3 carries which op is the same function
    # when the sources are equal (both read node 0 via node 1 = skip).
    a = nb201.parse("|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|none~2|")
    b = nb201.parse("|skip_connect~0|+|none~0|none~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|")
    assert nb201.canonical(a) == nb201.canonical(b)
    # Different ops are different functions.
    c = nb201.parse("|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|")
    assert nb201.canonical(a) != nb201.canonical(c)
    # A node that is exactly zero zeroes every edge leaving it.
    d = nb201.parse("|none~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    e = nb201.parse("|none~0|+|none~0|avg_pool_3x3~1|+|none~0|skip_connect~1|nor_conv_3x3~2|")
    assert nb201.canonical(d) == nb201.canonical(e)


@pytest.mark.parametrize("arch,params", [(ALL_CONV3, 1531546), (SMALLEST, 73306)])
def test_parameter_count_extremes_are_official(arch, params):
    net = nb201.build_network(arch, 10, seed=0)
    assert nb201.count_parameters(net) == params


def test_classes_per_dataset():
    for ds, n in nb201.NUM_CLASSES.items():
        net = nb201.build_network(SMALLEST, n, seed=0)
        assert net.classifier.out_features == n, ds


def _check_official_params(cost, rows) -> None:
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        got = [nb201.count_parameters(nb201.NB201Network(nb201.parse(cost["arch_str"].iloc[r])))
               for r in rows]
    want = np.round(cost["params_m"].to_numpy()[rows] * 1e6)
    np.testing.assert_array_equal(np.array(got), want)


def test_parameter_counts_match_official_values_sample(data_dir):
    """Every (conv1x1, conv3x3) count combination, the extremes, and 150 random cells."""
    cost = data.load_table("nb201_cost_c10", data_dir)
    cells = [nb201.parse(s) for s in cost["arch_str"]]
    groups: dict[tuple[int, int], int] = {}
    for r, c in enumerate(cells):
        groups.setdefault((c.count("nor_conv_1x1"), c.count("nor_conv_3x3")), r)
    rows = set(groups.values()) | {int(cost["params_m"].idxmin()), int(cost["params_m"].idxmax())}
    rows |= set(np.random.default_rng(0).choice(len(cost), 150, replace=False).tolist())
    _check_official_params(cost, sorted(rows))


@pytest.mark.slow
def test_parameter_counts_match_all_official_values(data_dir):
    cost = data.load_table("nb201_cost_c10", data_dir)
    _check_official_params(cost, list(range(len(cost))))


def test_flops_are_macs_and_relate_exactly_to_the_official_counter(data_dir):
    """Our MACs (conv, linear, pooling) are the benchmark's figures minus elementwise terms.

    The published FLOPs (NAS-Bench-Suite-Zero's copy of the API values) equal our MACs plus
    136,246 + 430,080 per convolution edge, for every one of the 9,445 published cells: the
    published counter also charges 3 operations per output element of each ReLU-Conv-BN (ReLU
    1, BN 2) and a constant for the fixed stem/reduction/head elementwise work. We checked the
    extremes published in the data README (7.943872 M and 222.860992 M) are reproduced.
    """
    cost = data.load_table("nb201_cost_c10", data_dir)
    rng = np.random.default_rng(0)
    rows = rng.choice(len(cost), 40, replace=False)
    for r in rows:
        cell = nb201.parse(cost["arch_str"].iloc[r])
        macs = count_macs(nb201.NB201Network(cell))
        n_conv = sum(op.startswith("nor_conv") for op in cell)
        assert macs + 136246 + 430080 * n_conv == round(cost["flops_m"].iloc[r] * 1e6)
    assert count_macs(nb201.NB201Network(nb201.parse(SMALLEST))) + 136246 == 7943872
    assert count_macs(nb201.NB201Network(nb201.parse(ALL_CONV3))) + 136246 + 6 * 430080 \
        == 222860992


def test_seeded_init_is_deterministic_and_isolated():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = nb201.build_network(ALL_CONV3, 10, seed=20)
    b = nb201.build_network(ALL_CONV3, 10, seed=20)
    c = nb201.build_network(ALL_CONV3, 10, seed=2020)
    # Building consumed nothing from the global RNG stream.
    assert torch.equal(torch.rand(1), expected_next)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_forward_shapes_and_zero_cell():
    x = torch.randn(2, 3, 32, 32)
    assert nb201.build_network(ALL_CONV3, 100, seed=0)(x).shape == (2, 100)
    net = nb201.build_network(SMALLEST, 10, seed=0).eval()
    # An all-none cell makes the output independent of the input.
    assert torch.allclose(net(x)[0], net(torch.randn(2, 3, 32, 32))[0])


def test_op_counts():
    assert nb201.op_counts(nb201.parse(ALL_CONV3)) == {
        "none": 0, "skip_connect": 0, "nor_conv_1x1": 0, "nor_conv_3x3": 6, "avg_pool_3x3": 0}
