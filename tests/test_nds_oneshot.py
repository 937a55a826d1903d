"""One-shot estimators on the NDS spaces: a tiny supernet run, trained, resumed and scored
through the harness like the NAS-Bench-201 ones (issue #43)."""

from __future__ import annotations

import pytest
from conftest import assert_resumes_exactly

from harness import registry
from harness import run as runner
from harness.oneshot.config import TrainConfig
from harness.oneshot.nds_supernet import (
    MAX_GROUPS,
    SPACE_SHAPES,
    NDSSupernetShape,
    space_shape,
)
from harness.oneshot.sampling import make_sampler
from harness.oneshot.scoring import OneShotOptions
from harness.spaces import get_space
from harness.spaces.nds import parse

TINY = {"subset": 200, "batch_size": 32, "eval_batches": 1, "eval_batch_size": 32}


def _cfg(epochs: int = 2) -> TrainConfig:
    return OneShotOptions.parse(TINY).train_config("uniform", 20, epochs, "nds_resnet")


@pytest.mark.parametrize("space", sorted(SPACE_SHAPES))
def test_the_space_shape_covers_the_whole_table(space, data_dir):
    from harness import data

    sp = get_space(space)
    specs = [sp.spec_of_row(r) for r in data.load_table(sp.table, data_dir).to_dict("records")]
    assert NDSSupernetShape.covering(specs) == SPACE_SHAPES[space]
    # A reduced shape holds every architecture scaled down (the pilots' supernets).
    for scale in (0.25, 0.125):
        shape = space_shape(space, scale)
        assert all(shape.holds(parse(s)) for s in specs)
    groups = {g for s in specs for g in (parse(s).num_groups or (1,))}
    assert max(groups) == MAX_GROUPS[space]
    sampler = make_sampler("uniform", data_dir, space)
    assert len(sampler.population) == 5000 and sampler.population[0] == specs[0]
    with pytest.raises(ValueError, match="no isomorphic duplicates"):
        make_sampler("deiso", data_dir, space)


def test_an_nds_run_is_its_own_run_and_nb201_hashes_stay():
    assert TrainConfig().config_hash() == "03af08b7a9a11602"  # as before the space existed
    assert _cfg().config_hash() != OneShotOptions.parse(TINY).train_config(
        "uniform", 20, 2).config_hash()
    assert TrainConfig.from_dict(_cfg().to_dict()) == _cfg()
    with pytest.raises(ValueError, match="sampler='uniform'"):
        TrainConfig(space="nds_resnet", sampler="deiso")


def test_an_nds_supernet_trains_resumes_exactly_and_scores_through_the_harness(tmp_path,
                                                                                  data_dir):
    cfg = _cfg()
    # Straight to epoch 2, and in two calls: the same weights, bit for bit.
    assert_resumes_exactly(cfg, tmp_path, data_dir)

    ests = [registry.get("oneshot_uniform"), registry.get("oneshot_deiso_loss")]
    rcfg = runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                            cache_dir=tmp_path / "a", determinism_checks=2, curve=True,
                            options={**TINY, "epochs": 2})
    out = runner.run(ests, "nds-resnet-smoke", rcfg)
    for name, res in out.items():
        assert res.contract_ok, (name, res.contract_problems)
        desc = res.prepared["20"]
        # de-isomorphic sampling is uniform sampling on NDS: both score the one run
        assert desc["space"] == "nds_resnet" and desc["config_hash"] == cfg.config_hash()
        assert [p.checkpoint for p in res.curve.points] == [1, 2]
        assert res.cost.training["epochs"] == 2
    assert out["oneshot_uniform"].determinism.equal == 2


def test_nds_refuses_options_that_only_mean_something_on_nb201(tmp_path, data_dir):
    rcfg = runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                            cache_dir=tmp_path, determinism_checks=0,
                            options={**TINY, "epochs": 1, "post_deiso": True})
    with pytest.raises(ValueError, match="no isomorphism classes"):
        runner.run([registry.get("oneshot_uniform")], "nds-resnet-smoke", rcfg)
