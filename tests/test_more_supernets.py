"""The NAS-Bench-101 and NAS-Bench-301 supernets (issue #43): each architecture's active path is
its stand-alone network, the samplers draw the spaces they claim to, and a tiny run trains,
resumes exactly and scores through the harness."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
from conftest import assert_resumes_exactly

from harness import data, registry
from harness import run as runner
from harness.oneshot.config import TrainConfig
from harness.oneshot.models import build_model, nb301_layers
from harness.oneshot.nb101_supernet import NB101Shape, NB101Supernet
from harness.oneshot.nb301_supernet import NB301Supernet
from harness.oneshot.sampling import make_sampler, space_representative
from harness.oneshot.scoring import OneShotOptions
from harness.spaces import get_space, nb101, nb101_cells, nb301
from harness.splits import load_split

TINY = {"subset": 200, "batch_size": 32, "eval_batches": 1, "eval_batch_size": 32,
        "channels": 8, "cells_per_stage": 1}


def _randomise_batchnorms(model: torch.nn.Module, seed: int = 0) -> None:
    """Running statistics and affine parameters far from their initial 0/1, so that a wrong
    slice or a wrong module cannot go unnoticed."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=gen))
                m.bias.copy_(torch.randn(m.num_features, generator=gen))


def _same_function(supernet, standalone, spec: str) -> None:
    standalone.load_state_dict(supernet.standalone_state(spec), strict=True)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for train_mode in (False, True):  # running statistics, then each batch's own
        supernet.train(train_mode)
        standalone.train(train_mode)
        with torch.no_grad():
            a, b = supernet(x, spec), standalone(x)
        assert torch.equal(a, b), (spec, train_mode, float((a - b).abs().max()))


# --------------------------------------------------------------------------------------------
# NAS-Bench-101
# --------------------------------------------------------------------------------------------

#: A cell whose vertex 3 is off every input -> output path: pruned to 6 vertices, so the
#: vertices after it run on the weights of their own (unpruned) positions.
PRUNED = nb101_cells.format_spec(
    [[0, 1, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 0, 1, 0],
     [0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 1], [0] * 7],
    ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu",
     "conv1x1-bn-relu", "output"])


@pytest.mark.parametrize("shape", [NB101Shape(16, 3, 1), NB101Shape(8, 2, 2)])
def test_nb101_active_path_is_the_standalone_network(shape, data_dir):
    specs = load_split("nb101-smoke").specs(data_dir)[::10] + [PRUNED]
    assert len(nb101_cells.prune(*nb101_cells.parse(PRUNED))[0]) == 6
    supernet = NB101Supernet(shape)
    _randomise_batchnorms(supernet)
    for spec in specs:
        net = nb101.NB101Network(spec, 10, shape.stem_channels, shape.num_stacks,
                                 shape.modules_per_stack)
        _same_function(supernet, net, spec)


def test_nb101_architectures_share_weights_by_position_and_leading_channels():
    shape = NB101Shape(8, 1, 1)
    supernet = NB101Supernet(shape)
    spec = nb101_cells.enumerate_ss3()[0]
    state = supernet.standalone_state(spec)
    matrix, ops = nb101_cells.prune(*nb101_cells.parse(spec))
    channels = nb101.compute_vertex_channels(8, 8, matrix)
    # Vertex 1 (a 3x3 conv) uses the leading slice of position 1's 3x3 kernel.
    kernel = supernet.cells[0].ops["1"]["conv3x3"].conv.weight
    c = channels[1]
    assert ops[1] == "conv3x3-bn-relu" and c < 8
    assert torch.equal(state["layers.0.ops.1.conv.weight"], kernel[:c, :c])


def test_nb101_space_is_search_space_3_and_holds_the_table(data_dir):
    space = nb101_cells.enumerate_ss3()
    assert len(space) == 108_135 == len(set(space))
    sp = get_space("nb101")
    rows = data.load_table(sp.table, data_dir).to_dict("records")
    members = set(space)
    for row in rows:
        matrix = row["adjacency"]
        assert tuple(sum(matrix[u][v] for u in range(7)) for v in range(1, 7)) == \
            nb101_cells.SS3_PARENTS
        assert sp.spec_of_row(row) in members


def test_nb101_deiso_sampler_draws_one_representative_per_class(data_dir):
    uniform, deiso = make_sampler("uniform", None, "nb101"), make_sampler("deiso", None, "nb101")
    assert len(uniform.population) == 108_135
    assert len(deiso.population) == 49_032  # isomorphism classes under the benchmark's hash
    assert len({nb101_cells.canonical(s) for s in deiso.population[::97]}) == \
        len(deiso.population[::97])
    # Isomorphic cells (the table repeats some, and holds isomorphic pairs) share one
    # representative, which is itself a member of the class.
    sp = get_space("nb101")
    specs = [sp.spec_of_row(r) for r in data.load_table(sp.table, data_dir)
             .head(400).to_dict("records")]
    by_class = collections.defaultdict(set)
    for s in specs:
        rep = space_representative("nb101", s)
        assert nb101_cells.canonical(rep) == nb101_cells.canonical(s)
        by_class[nb101_cells.canonical(s)].add(rep)
    assert all(len(v) == 1 for v in by_class.values())
    with pytest.raises(ValueError, match="no de-isomorphic sampler"):
        space_representative("nb301", specs[0])


# --------------------------------------------------------------------------------------------
# NAS-Bench-301
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels,layers", [(8, 5), (4, 8)])
def test_nb301_active_path_is_the_standalone_network(channels, layers, data_dir):
    specs = load_split("nb301-smoke").specs(data_dir)[::10] + [nb301.format_spec(nb301.DARTS_V2)]
    supernet = NB301Supernet(channels, layers)
    _randomise_batchnorms(supernet)
    for spec in specs:
        net = nb301.build_network(spec, 10, seed=0, channels=channels, layers=layers)
        _same_function(supernet, net, spec)


def test_nb301_sampler_draws_valid_genotypes_uniformly():
    sampler = make_sampler("uniform", None, "nb301")
    assert sampler.cell_at(20, 7) == sampler.cell_at(20, 7)  # stateless: resumable
    assert sampler.cell_at(20, 7) != sampler.cell_at(20, 8)
    ops = collections.Counter()
    pairs = collections.Counter()
    n = 600
    for step in range(n):
        normal, reduce = nb301.parse(sampler.cell_at(3, step))  # parse validates
        for cell in (normal, reduce):
            assert all(cell[2 * k][1] < cell[2 * k + 1][1] for k in range(nb301.STEPS))
            ops.update(op for op, _ in cell)
            pairs[(cell[6][1], cell[7][1])] += 1  # node 5: one of 10 input pairs
    freq = np.array([ops[o] for o in nb301.OPS]) / (n * 16)
    assert set(ops) == set(nb301.OPS) and np.all(np.abs(freq - 1 / 7) < 0.02)
    assert len(pairs) == 10 and min(pairs.values()) > 0.5 * 2 * n / 10
    with pytest.raises(ValueError, match="too large"):
        make_sampler("deiso", None, "nb301")


def test_shapes_of_the_run_config():
    cfg = OneShotOptions.parse(TINY).train_config("uniform", 20, 1, "nb301")
    model = build_model(cfg, seed=1)
    assert len(model.cells) == nb301_layers(1) == 5 and nb301_layers(2) == nb301.LAYERS
    assert all(m.running_mean is None for m in model.modules()
               if isinstance(m, torch.nn.BatchNorm2d))  # batch statistics only
    cfg = OneShotOptions.parse(TINY).train_config("deiso", 20, 1, "nb101")
    model = build_model(cfg, seed=1)
    assert model.shape == NB101Shape(8, nb101.NUM_STACKS, 1)
    with pytest.raises(ValueError, match="sampler='uniform'"):
        TrainConfig(space="nb301", sampler="deiso")
    with pytest.raises(ValueError, match="sharing='full'"):
        TrainConfig(space="nb101", sharing="partition-op")


# --------------------------------------------------------------------------------------------
# training and scoring through the harness
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("space,sampler,split", [("nb101", "deiso", "nb101-smoke"),
                                                 ("nb301", "uniform", "nb301-smoke")])
def test_a_supernet_trains_resumes_exactly_and_scores_through_the_harness(
        space, sampler, split, tmp_path, data_dir):
    cfg = OneShotOptions.parse(TINY).train_config(sampler, 20, 2, space)
    assert_resumes_exactly(cfg, tmp_path, data_dir)

    est = registry.get(f"oneshot_{sampler}")
    rcfg = runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                            cache_dir=tmp_path / "a", determinism_checks=2, curve=True,
                            options={**TINY, "epochs": 2})
    res = runner.run([est], split, rcfg)[est.info.name]
    assert res.contract_ok, res.contract_problems
    desc = res.prepared["20"]
    assert desc["space"] == space and desc["config_hash"] == cfg.config_hash()
    assert desc["iso_eval"] == ("representative" if sampler == "deiso" else "self")
    assert [p.checkpoint for p in res.curve.points] == [1, 2]
    assert res.determinism.equal == 2
