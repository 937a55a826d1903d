"""The one-shot estimators: supernet weight sharing, samplers, checkpoints, scoring.

Everything runs on the CPU in seconds: a supernet with 4 channels and one cell per stage,
trained for a handful of steps on a few hundred CIFAR-10 images.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy import stats

from harness import api, registry
from harness.oneshot import checkpoints
from harness.oneshot.config import EvalConfig, SupernetConfig, TrainConfig
from harness.oneshot.images import (
    augment,
    load_split_images,
    split_indices,
    train_batch,
    validation_batches,
)
from harness.oneshot.sampling import (
    class_members,
    deiso_representatives,
    make_sampler,
    representative,
)
from harness.oneshot.scoring import OneShotEvaluator, OneShotOptions
from harness.oneshot.sharing import parse_sharing
from harness.oneshot.supernet import (
    NB201Supernet,
    PartitionedSupernet,
    build_supernet,
    plan_cell,
)
from harness.oneshot.training import epochs_by_device, make_optimizer, train, train_step
from harness.oneshot.transfer import extract_network, recalibrate_bn, trained_builder
from harness.run.environment import device_name
from harness.spaces import nb201
from harness.splits import load_split

TINY = SupernetConfig(channels=4, cells_per_stage=1)
CONV3 = ("nor_conv_3x3",) * 6
# Shares edge 0 (conv3x3) and edge 3 (conv3x3) with CONV3; edges 1, 2, 4, 5 differ.
MIXED = ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_1x1",
         "skip_connect")
TINY_OPTIONS = {"channels": 4, "cells_per_stage": 1, "subset": 200, "batch_size": 32,
                "eval_batches": 2, "eval_batch_size": 16}


def tiny_cfg(**kw) -> TrainConfig:
    base = dict(sampler="deiso", epochs=3, seed=7, batch_size=32, subset=200, supernet=TINY)
    base.update(kw)
    return TrainConfig(**base)


def snapshot(params) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in params}


def batch(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def make_ctx(spec: str, state, shared: dict | None = None) -> api.ArchContext:
    return api.ArchContext(spec=spec, space="nb201", dataset="cifar10", num_classes=10,
                           input_shape=(3, 32, 32), seed=3, device=torch.device("cpu"),
                           builder=lambda s: None, batch_loader=None, state=state,
                           shared=shared)


# --------------------------------------------------------------------------------------------
# the supernet and weight sharing
# --------------------------------------------------------------------------------------------


def test_plan_skips_exactly_the_inactive_edges():
    # Node 1 is cut from the input, so both edges leaving it are inactive.
    cell = ("none", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_3x3",
            "avg_pool_3x3")
    plan = plan_cell(cell)
    active = {(k, op) for node in plan for k, _i, op in node}
    assert active == {(1, "nor_conv_3x3"), (3, "skip_connect"), (5, "avg_pool_3x3")}
    assert plan_cell(("none",) * 6) == ((), (), ())


def test_architectures_sharing_an_op_use_the_same_tensor():
    net = NB201Supernet(TINY)
    a = dict(net.active_parameters(CONV3))
    b = dict(net.active_parameters(MIXED))
    shared = set(a) & set(b)
    assert any(".edges.0.ops.nor_conv_3x3." in n for n in shared)
    assert not any(".edges.1." in n for n in shared)  # conv3x3 vs conv1x1 on edge 1
    for name in shared:
        assert a[name] is b[name]  # one tensor, not two copies
    for layer in net.cell_layers():
        assert net.op_module(layer, 0, "nor_conv_3x3") is net.cells[layer].edges[0].ops[
            "nor_conv_3x3"]


def test_gradients_reach_exactly_the_active_parameters():
    net = NB201Supernet(TINY)
    cell = ("none", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_3x3",
            "avg_pool_3x3")
    x, y = batch()
    torch.nn.functional.cross_entropy(net(x, cell), y).backward()
    with_grad = {n for n, p in net.named_parameters() if p.grad is not None}
    assert with_grad == {n for n, _p in net.active_parameters(cell)}


def test_a_step_on_one_architecture_moves_shared_weights_only():
    cfg = tiny_cfg()
    net = build_supernet(TINY, seed=0)
    opt = make_optimizer(net, cfg)
    used_by_b = snapshot(net.active_parameters(MIXED))
    everything = snapshot(net.named_parameters())
    used_by_a = {n for n, _p in net.active_parameters(CONV3)}
    x, y = batch()
    train_step(net, opt, CONV3, x, y, cfg, torch.Generator().manual_seed(0))
    now = dict(net.named_parameters())
    for name, before in used_by_b.items():
        changed = not torch.equal(now[name], before)
        assert changed == (name in used_by_a), name
    for name, before in everything.items():
        if name not in used_by_a:
            assert torch.equal(now[name], before), name
    # A later step on MIXED must not move CONV3-only weights through their momentum.
    a_only = snapshot((n, p) for n, p in net.named_parameters()
                      if n in used_by_a and n not in used_by_b)
    assert a_only
    train_step(net, opt, MIXED, x, y, cfg, torch.Generator().manual_seed(1))
    for name, before in a_only.items():
        assert torch.equal(now[name], before), name


def test_cut_off_cell_outputs_zeros_and_scores_like_the_benchmark():
    net = NB201Supernet(TINY).eval()
    x, _ = batch(8)
    cell = ("nor_conv_3x3", "skip_connect", "nor_conv_1x1", "none", "none", "none")
    assert plan_cell(cell)[2] == ()
    assert torch.equal(net(x, cell), extract_network(net, cell)(x))


def test_stand_alone_network_with_trained_weights_matches_the_supernet():
    torch.manual_seed(0)
    net = build_supernet(TINY, seed=1)
    with torch.no_grad():  # move every weight away from its initial value
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    net.eval()  # no dropout; BN still uses batch statistics
    x, _ = batch(8)
    rng = np.random.default_rng(0)
    cells = list(nb201.enumerate_cells())
    for i in rng.choice(len(cells), 25, replace=False):
        cell = cells[int(i)]
        standalone = extract_network(net, cell)
        assert isinstance(standalone, nb201.NB201Network) and standalone.training
        assert torch.equal(net(x, cell), standalone(x)), cell
    built = trained_builder(net, nb201.format_cell(CONV3))(123)
    assert torch.equal(built.classifier.weight, net.classifier.weight)
    assert built.classifier.weight.data_ptr() != net.classifier.weight.data_ptr()  # a copy
    recalibrate_bn(built, [x])
    bn = built.stem[1]
    assert torch.allclose(bn.running_mean, built.stem[0](x).mean((0, 2, 3)), atol=1e-6)


def test_partitioned_supernets_route_and_do_not_share():
    rule = parse_sharing("partition-op")
    assert rule.n_parts == 5 and rule.edge == 3
    model = build_supernet(TINY, "partition-op", seed=0)
    assert isinstance(model, PartitionedSupernet)
    p0, p1 = model.parts[0], model.parts[1]
    assert all(torch.equal(a, b) for a, b in zip(p0.parameters(), p1.parameters()))
    a = CONV3[:3] + ("none",) + CONV3[4:]  # edge 3 = none -> part 0
    b = CONV3[:3] + ("skip_connect",) + CONV3[4:]  # -> part 1
    assert model.supernet_for(a) is p0 and model.supernet_for(b) is p1
    cfg = tiny_cfg(sharing="partition-op")
    opt = make_optimizer(model, cfg)
    before = snapshot(p1.named_parameters())
    x, y = batch()
    train_step(model, opt, a, x, y, cfg)
    assert all(torch.equal(p, before[n]) for n, p in p1.named_parameters())
    assert not torch.equal(p0.classifier.weight, p1.classifier.weight)
    assert parse_sharing("partition-convs").part(CONV3) == 3
    with pytest.raises(ValueError):
        parse_sharing("partition-7")


# --------------------------------------------------------------------------------------------
# samplers
# --------------------------------------------------------------------------------------------


def test_deiso_sampler_draws_canonical_representatives_uniformly(data_dir):
    reps = deiso_representatives(data_dir)
    assert len(reps) == 6466 == len({nb201.canonical(r) for r in reps})
    # The representatives are the de-isomorphic split's cells (lowest index of each class).
    split_cells = {nb201.parse(s) for s in load_split("nb201-c10-deiso").specs(data_dir)}
    assert set(reps) == split_cells
    sampler = make_sampler("deiso", data_dir)
    rep_set = set(reps)
    assert all(sampler.cell_at(11, t) in rep_set for t in range(500))
    counts = np.bincount(sampler.sample_indices(np.random.default_rng(0), 300_000),
                         minlength=len(reps))
    assert (counts > 0).all()  # every class is trained
    assert stats.chisquare(counts).pvalue > 1e-3  # with probability 1/6466 each


def test_uniform_sampler_weights_classes_by_their_size(data_dir):
    sampler = make_sampler("uniform", data_dir)
    assert len(sampler.population) == 15625
    members = class_members(data_dir)
    keys = sorted(members)
    index = {k: i for i, k in enumerate(keys)}
    draws = sampler.sample_indices(np.random.default_rng(1), 300_000)
    classes = np.array([index[nb201.canonical(c)] for c in sampler.population])[draws]
    observed = np.bincount(classes, minlength=len(keys))
    expected = np.array([len(members[k]) for k in keys]) / 15625 * len(draws)
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # Stateless: the same (seed, step) gives the same cell, other steps other cells.
    assert sampler.cell_at(5, 17) == sampler.cell_at(5, 17)
    assert len({sampler.cell_at(5, t) for t in range(50)}) > 40


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def test_split_is_fixed_and_disjoint():
    tr, va = split_indices(50000, 0.8, 0)
    assert len(tr) == 40000 and len(va) == 10000
    assert len(np.intersect1d(tr, va)) == 0
    tr2, va2 = split_indices(50000, 0.8, 0)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)
    tr3, _ = split_indices(50000, 0.8, 0, subset=100)
    assert np.array_equal(tr3, tr[:80])


def test_augmentation_is_a_padded_crop_or_its_mirror():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    out = augment(images, np.random.default_rng(5))
    assert out.shape == images.shape and out.dtype == np.uint8
    assert np.array_equal(out, augment(images, np.random.default_rng(5)))
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    for k in range(len(images)):
        crops = [padded[k, dy:dy + 32, dx:dx + 32] for dy in range(9) for dx in range(9)]
        assert any(np.array_equal(out[k], c) or np.array_equal(out[k], c[:, ::-1])
                   for c in crops)


def test_batches_are_deterministic(data_dir):
    cfg = tiny_cfg()
    images = load_split_images(cfg, data_dir)
    assert len(images.train_y) == 160 and len(images.val_y) == 40
    x1, y1 = train_batch(images, cfg, 1, 2)
    x2, y2 = train_batch(images, cfg, 1, 2)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, train_batch(images, cfg, 2, 2)[0])
    vb = validation_batches(images, EvalConfig(n_batches=3, batch_size=16))
    assert [len(y) for _x, y in vb] == [16, 16, 8]  # 40 validation images, no repeats


# --------------------------------------------------------------------------------------------
# training, checkpoints, resume
# --------------------------------------------------------------------------------------------


def test_config_hash_names_the_run():
    a = tiny_cfg()
    assert a.config_hash() == tiny_cfg().config_hash()
    for other in (tiny_cfg(sampler="uniform"), tiny_cfg(epochs=4), tiny_cfg(seed=8),
                  tiny_cfg(subset=300), tiny_cfg(lr=0.1), tiny_cfg(sharing="partition-op"),
                  tiny_cfg(supernet=replace(TINY, channels=8))):
        assert other.config_hash() != a.config_hash()
    assert TrainConfig.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    with pytest.raises(ValueError):
        tiny_cfg(sampler="fair")


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, data_dir):
    # 80 training images, batches of 40: 2 steps per epoch; stop after 2 epochs (4 steps),
    # resume for the 3rd, and compare with 3 epochs straight.
    cfg = tiny_cfg(subset=100, batch_size=40)
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    first = train(cfg, cache_dir=a_dir, data_dir=data_dir, until_epoch=2, log=None)
    assert first.epoch == 2 and first.saved == [checkpoints.checkpoint_path(a_dir, cfg, 2)]
    resumed = train(cfg, cache_dir=a_dir, data_dir=data_dir, log=None)
    assert resumed.resumed_from == 2 and resumed.epoch == 3
    straight = train(cfg, cache_dir=b_dir, data_dir=data_dir, log=None)
    assert straight.resumed_from == 0
    ca = checkpoints.load_checkpoint(checkpoints.checkpoint_path(a_dir, cfg, 3))
    cb = checkpoints.load_checkpoint(checkpoints.checkpoint_path(b_dir, cfg, 3))
    assert ca["epoch"] == cb["epoch"] == 3 and ca["global_step"] == 6
    assert ca["model"].keys() == cb["model"].keys()
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), k
    sa, sb = ca["optimizer"]["state"], cb["optimizer"]["state"]
    assert sa.keys() == sb.keys() and sa
    for k in sa:
        assert torch.equal(sa[k]["momentum_buffer"], sb[k]["momentum_buffer"])
    assert [r["loss"] for r in ca["log"]] == [r["loss"] for r in cb["log"]]
    assert {"model", "optimizer", "epoch", "rng", "config", "config_hash"} <= set(ca)
    # Each epoch says which machine ran it, so a run resumed elsewhere shows the change;
    # epochs logged before that was recorded count as unrecorded.
    here = device_name("cpu")
    assert [r["device_name"] for r in ca["log"]] == [here] * 3
    older = [{k: v for k, v in r.items() if k != "device_name"} for r in ca["log"][:2]]
    assert epochs_by_device(older + ca["log"][2:]) == {"unrecorded": 2, here: 1}


def test_a_stop_mid_epoch_resumes_bit_for_bit(tmp_path, data_dir):
    # 2 steps per epoch; stop before step 3 (epoch 1, step 1), resume, and compare with an
    # uninterrupted run: a campaign's budget stops training between steps, not epochs.
    cfg = tiny_cfg(subset=100, batch_size=40, epochs=2)
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    asked = []

    def stop_at_third_step() -> bool:
        asked.append(1)
        return len(asked) == 4  # asked before steps 1, 2, 3 (no), then 4: stop

    first = train(cfg, cache_dir=a_dir, data_dir=data_dir, log=None, stop=stop_at_third_step)
    step_file = checkpoints.step_checkpoint_path(a_dir, cfg)
    assert first.stopped and first.saved[-1] == step_file and step_file.is_file()
    state = checkpoints.load_checkpoint(step_file)
    assert (state["epoch"], state["step"], state["global_step"]) == (1, 1, 3)
    resumed = train(cfg, cache_dir=a_dir, data_dir=data_dir, log=None)
    assert not resumed.stopped and resumed.epoch == 2 and not step_file.exists()
    train(cfg, cache_dir=b_dir, data_dir=data_dir, log=None)
    ca = checkpoints.load_checkpoint(checkpoints.checkpoint_path(a_dir, cfg, 2))
    cb = checkpoints.load_checkpoint(checkpoints.checkpoint_path(b_dir, cfg, 2))
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), k
    for k in ca["optimizer"]["state"]:
        assert torch.equal(ca["optimizer"]["state"][k]["momentum_buffer"],
                           cb["optimizer"]["state"][k]["momentum_buffer"])
    assert [r["loss"] for r in ca["log"]] == [r["loss"] for r in cb["log"]]


class _Killed(Exception):
    """Stands for ``kill -9``: training ends between steps and no stop path saves anything."""


def test_a_killed_run_resumes_bit_for_bit_from_its_periodic_step_checkpoint(tmp_path,
                                                                            data_dir):
    # 2 steps per epoch; step.pt is saved before every step (step_every_s tiny), and the run
    # is killed before its 4th step (epoch 1, step 1): the save before it is the resume point.
    cfg = tiny_cfg(subset=100, batch_size=40, epochs=2)
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    asked = []

    def kill_before_fourth_step() -> bool:
        asked.append(1)
        if len(asked) == 4:
            raise _Killed
        return False

    with pytest.raises(_Killed):
        train(cfg, cache_dir=a_dir, data_dir=data_dir, log=None, stop=kill_before_fourth_step,
              step_every_s=1e-9)
    step_file = checkpoints.step_checkpoint_path(a_dir, cfg)
    state = checkpoints.load_checkpoint(step_file)
    # each save replaces the one before: this is the one before step 3, the last that ran
    assert (state["epoch"], state["step"], state["global_step"]) == (1, 0, 2)
    resumed = train(cfg, cache_dir=a_dir, data_dir=data_dir, log=None)
    assert (resumed.resumed_from, resumed.epoch) == (1, 2) and not step_file.exists()
    train(cfg, cache_dir=b_dir, data_dir=data_dir, log=None)
    ca = checkpoints.load_checkpoint(checkpoints.checkpoint_path(a_dir, cfg, 2))
    cb = checkpoints.load_checkpoint(checkpoints.checkpoint_path(b_dir, cfg, 2))
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), k
    assert [r["loss"] for r in ca["log"]] == [r["loss"] for r in cb["log"]]


def test_checkpoint_layout_and_discovery(tmp_path, data_dir):
    cfg = tiny_cfg(epochs=2)
    res = train(cfg, cache_dir=tmp_path, data_dir=data_dir, save_epochs=[1], log=None)
    run = tmp_path / "oneshot" / cfg.config_hash()
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "epoch_1.pt", "epoch_2.pt"]
    assert res.saved == [run / "epoch_1.pt", run / "epoch_2.pt"]
    assert not list(run.glob("*.partial"))
    (found,) = checkpoints.list_runs(tmp_path)
    assert found.config == cfg and found.epochs == (1, 2)
    again = train(cfg, cache_dir=tmp_path, data_dir=data_dir, log=None)
    assert again.resumed_from == 2 and again.saved == []  # nothing left to do


# --------------------------------------------------------------------------------------------
# estimators and scores
# --------------------------------------------------------------------------------------------


def _pctx(tmp_path, data_dir, **options) -> api.PrepareContext:
    return api.PrepareContext(space="nb201", dataset="cifar10", seed=3,
                              device=torch.device("cpu"), data_dir=data_dir,
                              cache_dir=str(tmp_path), options={**TINY_OPTIONS, **options})


def test_estimators_are_registered_as_one_shot():
    found = registry.discover()
    for name in ("oneshot_uniform", "oneshot_deiso", "oneshot_deiso_loss"):
        est = found[name]
        assert est.info.kind == "one-shot" and est.prepare is not None
        assert est.info.data_independent and est.info.applies_to("nb201")
        # supernets of all five benchmarks (issue #43)
        assert all(est.info.applies_to(s) for s in ("nb101", "nb301", "nds_resnet",
                                                      "nds_resnexta"))


def test_scores_are_deterministic_and_checkpoints_reused(tmp_path, data_dir):
    found = registry.discover()
    deiso, loss = found["oneshot_deiso"], found["oneshot_deiso_loss"]
    s1 = deiso.prepare(_pctx(tmp_path, data_dir, epochs="1", iso_eval="self"))
    assert s1.trained_here  # one epoch is within the auto-training limit
    s2 = deiso.prepare(_pctx(tmp_path, data_dir, epochs="1", iso_eval="self"))
    assert not s2.trained_here and s2.config == s1.config
    specs = load_split("nb201-c10-smoke").specs(data_dir)[::10]
    a = [deiso.score(make_ctx(s, s1)) for s in specs]
    b = [deiso.score(make_ctx(s, s2)) for s in specs]
    assert a == b and all(0.0 <= v <= 1.0 for v in a)
    assert len(set(a)) > 1
    s3 = loss.prepare(_pctx(tmp_path, data_dir, epochs="1", iso_eval="self"))
    shared: dict = {}
    acc_joint = deiso.score(make_ctx(specs[3], s1, shared))
    loss_joint = loss.score(make_ctx(specs[3], s3, shared))
    assert acc_joint == a[3]
    assert loss_joint == loss.score(make_ctx(specs[3], s3)) < 0
    # Without an epoch budget, prepare finds the largest checkpoint of a matching run.
    s4 = deiso.prepare(_pctx(tmp_path, data_dir, iso_eval="self"))
    assert s4.config == s1.config and s4.epoch == 1 and not s4.trained_here
    desc = s4.describe()
    assert desc["config_hash"] == s1.config.config_hash() and desc["epoch"] == 1
    json.dumps(desc)


def test_prepare_refuses_to_train_a_large_budget_unasked(tmp_path, data_dir):
    est = registry.discover()["oneshot_uniform"]
    with pytest.raises(FileNotFoundError, match="python -m harness.oneshot train"):
        est.prepare(_pctx(tmp_path, data_dir, epochs=50))
    with pytest.raises(ValueError):
        est.prepare(_pctx(tmp_path, data_dir, train="maybe"))


def test_post_deiso_averages_the_scores_of_isomorphic_cells(tmp_path, data_dir):
    cfg = tiny_cfg(sampler="uniform", epochs=1, seed=3, subset=200)
    train(cfg, cache_dir=tmp_path, data_dir=data_dir, log=None)
    est = registry.discover()["oneshot_uniform"]
    state = est.prepare(_pctx(tmp_path, data_dir, epochs=1, post_deiso="true"))
    assert state.config == cfg and state.iso_eval == "mean"
    members = class_members(data_dir)
    # A class with several members whose active edges differ (so their scores differ).
    key = next(k for k, v in members.items() if 5 <= len(v) <= 40
               and len({plan_cell(c) for c in v}) > 2)
    cells = members[key]
    model = state.evaluator.model
    vx = state.evaluator.batches
    naive = []
    with torch.no_grad():  # recomputed here without the evaluator's plan cache
        for c in cells:
            correct = sum(int((model(x, c).argmax(1) == y).sum()) for x, y in vx)
            naive.append(correct / state.evaluator.n_images)
    assert len(set(naive)) > 1
    scores = [est.score(make_ctx(nb201.format_cell(c), state)) for c in cells]
    assert len(set(scores)) == 1
    assert math.isclose(scores[0], float(np.mean(naive)), rel_tol=0, abs_tol=1e-12)
    # Representative mode scores every member as the class representative.
    ev = OneShotEvaluator(model, vx, "cpu", data_dir)
    rep = representative(cells[-1], data_dir)
    assert ev.score(cells[-1], "acc", "representative") == ev.score(rep, "acc", "self")


def test_options_parse_strings_from_the_command_line():
    o = OneShotOptions.parse({"epochs": "200", "post_deiso": "True", "sharing": "partition-op",
                              "eval_batches": "3", "unrelated": "x"})
    assert o.epochs == 200 and o.post_deiso and o.iso_mode("uniform") == "mean"
    assert o.train_config("deiso", 20, 200).sharing == "partition-op"
    assert OneShotOptions.parse({}).iso_mode("deiso") == "representative"
    assert OneShotOptions.parse({"checkpoint_epoch": "latest"}).checkpoint_epoch is None
    assert OneShotOptions.parse({"train": "true"}).train == "yes"
    with pytest.raises(ValueError):
        OneShotOptions.parse({"epochs": 10, "checkpoint_epoch": 20})
    with pytest.raises(ValueError):
        OneShotOptions.parse({"post_deiso": "perhaps"})
    with pytest.raises(ValueError):
        OneShotOptions.parse({"post_deiso": "1", "iso_eval": "self"})


def test_one_shot_options_and_the_training_command_line_are_declared_once():
    """The estimator options, their parsing and the training command line all come from
    the config fields: nothing is listed twice, so nothing can drift."""
    import argparse
    from dataclasses import fields

    from harness.oneshot.__main__ import _add_run_args, _config
    from harness.oneshot.scoring import OPTIONS

    assert list(OPTIONS) == [f.name for f in fields(OneShotOptions)]
    assert OneShotOptions.parse({}) == OneShotOptions()
    for name, opt in OPTIONS.items():
        assert opt.help and getattr(OneShotOptions(), name) == OneShotOptions.__dataclass_fields__[
            name].default
    p = argparse.ArgumentParser()
    _add_run_args(p)
    assert _config(p.parse_args([])) == TrainConfig()
    tweaked = _config(p.parse_args(["--channels", "8", "--sampler", "uniform", "--subset", "9"]))
    assert (tweaked.supernet.channels, tweaked.sampler, tweaked.subset) == (8, "uniform", 9)
    with pytest.raises(SystemExit):
        p.parse_args(["--memory-format", "nhwc"])


def test_the_curve_command_goes_through_the_runner(tmp_path, data_dir, capsys):
    """``python -m harness.oneshot curve`` is the harness's curve (one implementation): its
    points are those of the results file it writes."""
    from harness import results
    from harness.oneshot.__main__ import main

    cfg = tiny_cfg(epochs=2)
    train(cfg, cache_dir=tmp_path, data_dir=data_dir, save_epochs=[1], log=None)
    args = ["curve", "--sampler", cfg.sampler, "--epochs", "2", "--seed", str(cfg.seed),
            "--channels", str(cfg.supernet.channels), "--cells-per-stage",
            str(cfg.supernet.cells_per_stage), "--batch-size", str(cfg.batch_size),
            "--subset", str(cfg.subset), "--split", "nb201-c10-smoke", "--eval-batches", "1",
            "--eval-batch-size", "32", "--cache-dir", str(tmp_path), "--data-dir", data_dir,
            "--results-dir", str(tmp_path / "res"), "--device", "cpu"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["checkpoint"] for p in out["curve"]] == [1, 2]
    res = results.load_result(results.results_path(tmp_path / "res", out["estimator"],
                                                   "nb201-c10-smoke"))
    assert [p.kendall for p in res.curve.points] == [p["kendall"] for p in out["curve"]]
    assert all(-1.0 <= p["kendall"] <= 1.0 for p in out["curve"])


def _run(ests, split, cfg) -> dict:
    from harness import run

    return {k: v.to_dict() for k, v in run.run(ests, split, cfg).items()}


def test_harness_records_the_checkpoint_and_the_training_curve(tmp_path, data_dir):
    from harness import run as runner

    est = registry.discover()["oneshot_deiso"]
    opts = {**TINY_OPTIONS, "epochs": 2, "iso_eval": "self"}
    tcfg = OneShotOptions.parse(opts).train_config("deiso", 20, 2)
    train(tcfg, cache_dir=tmp_path / "cache", data_dir=data_dir, save_epochs=[1, 2], log=None)
    cfg = runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                           cache_dir=tmp_path / "cache", determinism_checks=1, options=opts,
                           curve=True)
    obj = _run([est], "nb201-c10-smoke", cfg)["oneshot_deiso"]
    assert obj["contract_ok"], obj["contract_problems"]
    desc = obj["prepared"]["20"]
    assert desc["config_hash"] == tcfg.config_hash() and desc["epoch"] == 2
    # Honest cost: the supernet's training amortised over the ranked architectures.
    log = checkpoints.load_checkpoint(
        checkpoints.checkpoint_path(tmp_path / "cache", tcfg, 2))["log"]
    train_cpu = sum(r["seconds"] * r["threads"] for r in log)
    training = obj["cost"]["training"]
    assert training["epochs"] == 2 and training["cpu_s_per_run"] == pytest.approx(train_cpu)
    assert training["cpu_s_per_arch"] == pytest.approx(train_cpu / obj["n_archs"])
    points = obj["curve"]["points"]
    assert [p["checkpoint"] for p in points] == [1, 2]
    # The last point is the run itself; the first scores the epoch-1 weights.
    assert points[1]["kendall"] == obj["metrics"]["per_seed"]["20"]["kendall"]
    ev = est.prepare(api.PrepareContext(space="nb201", dataset="cifar10", seed=20,
                                        device=torch.device("cpu"), data_dir=data_dir,
                                        cache_dir=str(tmp_path / "cache"),
                                        options={**opts, "checkpoint_epoch": 1}))
    specs = load_split("nb201-c10-smoke").specs(data_dir)
    truth = load_split("nb201-c10-smoke").ground_truth(data_dir)
    first = [est.score(make_ctx(s, ev)) for s in specs]
    assert points[0]["kendall"] == pytest.approx(stats.kendalltau(first, truth)[0], abs=1e-12)
    assert results_roundtrip(obj)


def test_curve_reuses_a_stored_checkpoint_result_only_when_verified(tmp_path, data_dir):
    """A run at checkpoint 2 replacing the checkpoint-1 result takes the epoch-1 curve point
    from that file (same configuration, three cells re-scored bit for bit); a stored score
    that differs on a re-scored cell makes it score the split again, with the same result."""
    from harness import results
    from harness import run as runner

    est = registry.discover()["oneshot_deiso"]
    opts = {**TINY_OPTIONS, "epochs": 2, "iso_eval": "self"}
    tcfg = OneShotOptions.parse(opts).train_config("deiso", 20, 2)
    train(tcfg, cache_dir=tmp_path / "cache", data_dir=data_dir, save_epochs=[1, 2], log=None)

    def cfg(**kw):
        return runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                                cache_dir=tmp_path / "cache", determinism_checks=0, **kw)

    first = _run([est], "nb201-c10-smoke", cfg(options={**opts, "checkpoint_epoch": 1}))
    tau1 = first["oneshot_deiso"]["metrics"]["per_seed"]["20"]["kendall"]
    second = _run([est], "nb201-c10-smoke", cfg(options=opts, curve=True))["oneshot_deiso"]
    p1 = second["curve"]["points"][0]
    assert p1["checkpoint"] == 1 and p1["scores_from"] == "stored result, verified"
    assert p1["kendall"] == tau1
    assert second["curve"]["points"][1]["scores_from"] == "this run"

    # Write a checkpoint-1 result again, then corrupt its first (re-scored) cell.
    _run([est], "nb201-c10-smoke", cfg(options={**opts, "checkpoint_epoch": 1}))
    spath = results.scores_path(tmp_path / "res", "oneshot_deiso", "nb201-c10-smoke")
    rows = results.read_scores(spath)
    first_id = load_split("nb201-c10-smoke").arch_ids[0]
    rows = [(a, s, (v + 1.0 if a == first_id else v)) for a, s, v in rows]
    results.write_scores(spath, rows)
    shutil.rmtree(tmp_path / "cache" / "curves")  # the curve store would answer first
    third = _run([est], "nb201-c10-smoke", cfg(options=opts, curve=True))["oneshot_deiso"]
    p1 = third["curve"]["points"][0]
    assert p1["scores_from"] == "rescored" and p1["kendall"] == tau1
    # And the checkpoint-2 result in place now does not describe checkpoint 1: rescored too.
    shutil.rmtree(tmp_path / "cache" / "curves")
    fourth = _run([est], "nb201-c10-smoke", cfg(options=opts, curve=True))["oneshot_deiso"]
    assert fourth["curve"]["points"][0]["scores_from"] == "rescored"


def test_a_one_shot_result_is_replaced_by_another_checkpoint_never_by_another_protocol(
        tmp_path, data_dir):
    """Scoring another checkpoint of the same run replaces a one-shot result; another run
    (sharing, budget) or another evaluation (batches, post-de-isomorphism) is refused with the
    differing option named, and the file is left as it was."""
    from harness import results
    from harness import run as runner

    est = registry.discover()["oneshot_deiso"]
    opts = {**TINY_OPTIONS, "epochs": 2, "iso_eval": "self", "train": "no"}
    tcfg = OneShotOptions.parse(opts).train_config("deiso", 20, 2)
    train(tcfg, cache_dir=tmp_path / "cache", data_dir=data_dir, save_epochs=[1, 2], log=None)

    def cfg(options):
        return runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                                cache_dir=tmp_path / "cache", determinism_checks=0,
                                options=options)

    _run([est], "nb201-c10-smoke", cfg({**opts, "checkpoint_epoch": 1}))
    path = results.results_path(tmp_path / "res", "oneshot_deiso", "nb201-c10-smoke")
    # Another checkpoint of the same run, with or without training allowed: replaced.
    _run([est], "nb201-c10-smoke", cfg({**opts, "train": "auto"}))
    assert results.load_result(path).prepared["20"]["epoch"] == 2
    before = path.read_bytes()
    for key, value in (("eval_batches", 1), ("sharing", "partition-convs"), ("epochs", 3)):
        with pytest.raises(runner.UsageError,
                           match=rf"other settings \(options: .*{key}.*--no-resume"):
            _run([est], "nb201-c10-smoke", cfg({**opts, key: value}))
        assert path.read_bytes() == before


def test_curve_store_makes_curves_incremental_and_checks_what_it_reads(tmp_path, data_dir):
    """A curve run stores each checkpoint's scores; the next curve run of a later checkpoint
    reads them (after re-scoring three cells) instead of scoring the split again, the
    accuracy and loss estimators share one pass per checkpoint, and a tampered store file
    is scored again with the same curve."""
    import json

    from harness import run as runner
    from harness.run import curves

    found = registry.discover()
    ests = [found["oneshot_deiso"], found["oneshot_deiso_loss"]]
    opts = {**TINY_OPTIONS, "epochs": 3, "iso_eval": "self"}
    tcfg = OneShotOptions.parse(opts).train_config("deiso", 20, 3)
    train(tcfg, cache_dir=tmp_path / "cache", data_dir=data_dir, save_epochs=[1, 2, 3],
          log=None)

    def cfg(**kw):
        return runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                                cache_dir=tmp_path / "cache", determinism_checks=0,
                                curve=True, **kw)

    at2 = _run(ests, "nb201-c10-smoke", cfg(options={**opts, "checkpoint_epoch": 2}))
    assert [p["scores_from"] for p in at2["oneshot_deiso"]["curve"]["points"]] == [
        "rescored", "this run"]
    store = tmp_path / "cache" / "curves"
    # Checkpoints 1 and 2 of each estimator: 4 stored score sets.
    assert len(list(store.rglob("*.json"))) == 4

    session = runner.Session.create(ests, "nb201-c10-smoke", cfg(options=opts))
    assert curves.score_checkpoints(session) == 0  # checkpoints 1 and 2 are stored
    at3 = _run(ests, "nb201-c10-smoke", cfg(options=opts))
    for name in ("oneshot_deiso", "oneshot_deiso_loss"):
        pts = at3[name]["curve"]["points"]
        assert [p["checkpoint"] for p in pts] == [1, 2, 3]
        assert [p["scores_from"] for p in pts] == [
            "curve store, verified", "curve store, verified", "this run"]
        assert pts[:2] == [{**p, "scores_from": "curve store, verified"}
                           for p in at2[name]["curve"]["points"]]
    # Tamper with every stored file of the accuracy estimator: its points are re-scored
    # and come out the same.
    for path in (store / "oneshot_deiso").rglob("*.json"):
        obj = json.loads(path.read_text())
        obj["scores"][0] = (obj["scores"][0] or 0.0) + 1.0
        path.write_text(json.dumps(obj))
    again = _run(ests, "nb201-c10-smoke", cfg(options=opts))["oneshot_deiso"]["curve"]
    assert [p["scores_from"] for p in again["points"]] == ["rescored", "rescored", "this run"]
    assert [p["kendall"] for p in again["points"]] == [
        p["kendall"] for p in at3["oneshot_deiso"]["curve"]["points"]]


def results_roundtrip(obj: dict) -> bool:
    from harness import results

    return results.validate(json.loads(json.dumps(obj))) is not None


def test_zero_shot_estimators_on_trained_supernet_weights(tmp_path, data_dir):
    """RQ4: --weights=oneshot_deiso builds every network from the supernet's weights."""
    from harness import run as runner
    from harness.oneshot.training import load_model

    opts = {**TINY_OPTIONS, "epochs": 1, "iso_eval": "self"}
    tcfg = OneShotOptions.parse(opts).train_config("deiso", 20, 1)
    train(tcfg, cache_dir=tmp_path / "cache", data_dir=data_dir, log=None)
    cfg = runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                           cache_dir=tmp_path / "cache", determinism_checks=1, options=opts,
                           weights="oneshot_deiso")
    est = registry.discover()["l2_norm"]
    obj = _run([est], "nb201-c10-smoke", cfg)["l2_norm"]
    assert obj["contract_ok"], obj["contract_problems"]
    w = obj["protocol"]["weights"]
    assert w["source"] == "oneshot_deiso"
    assert w["per_seed"]["20"]["config_hash"] == tcfg.config_hash()
    # The recorded score is the l2 norm of the extracted trained network.
    model = load_model(tcfg, 1, tmp_path / "cache", "cpu")
    split = load_split("nb201-c10-smoke")
    spec = split.specs(data_dir)[0]
    net = extract_network(model, spec)
    from harness import results

    rows = results.read_scores(results.scores_path(cfg.results_dir, "l2_norm", split.name))
    score = {a: v for a, _s, v in rows}[split.arch_ids[0]]
    ctx = api.ArchContext(spec=spec, space="nb201", dataset="cifar10", num_classes=10,
                          input_shape=(3, 32, 32), seed=20, device=torch.device("cpu"),
                          builder=lambda _s: extract_network(model, spec), batch_loader=None,
                          batch_index=0, state=None, shared={})
    assert score == est.score(ctx)
    init = runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res")
    assert runner.Session.create([est], split, cfg).scoring_key(est) != \
        runner.Session.create([est], split, init).scoring_key(est)
    assert net is not None
    from harness.run.frontend import weights_source

    with pytest.raises(ValueError, match="one-shot estimator"):
        weights_source("synflow")
