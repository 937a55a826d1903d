"""The runner: contract checks, non-finite policy, checkpoints, determinism, results files."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from harness import api, results, runner
from harness.data import atomic_write_bytes

SPLIT = "nb201-c10-smoke"


def _est(name, fn, **kw) -> api.Estimator:
    info = api.EstimatorInfo(name=name, kind="baseline", idea="test", paper=None, version="1",
                             needs_images=kw.pop("needs_images", False),
                             data_independent=kw.pop("data_independent", True))
    return api.Estimator(info=info, score=fn, module=f"tests.{name}", **kw)


@pytest.fixture
def cfg(tmp_path, data_dir, tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "estbench-cache"
    return runner.RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                            cache_dir=cache, determinism_checks=2)


def _n_params(ctx):
    return float(sum(p.numel() for p in ctx.build().parameters()))


def test_end_to_end_results_file_has_every_field(cfg):
    out = runner.run([_est("p", _n_params)], SPLIT, cfg)["p"]
    path = results.results_path(cfg.results_dir, "p", SPLIT)
    obj = results.load_json(path)
    assert obj == json.loads(path.read_text()) and obj["contract_ok"]
    assert obj["n_archs"] == len(runner.load_split(SPLIT)) and obj["n_nonfinite"] == 0
    assert obj["metrics"]["mean"]["kendall"] == out["metrics"]["per_seed"]["20"]["kendall"]
    assert obj["bias"]["complexity"]["kendall_with_params"] == pytest.approx(1.0)
    rows = results.read_scores(results.scores_path(cfg.results_dir, "p", SPLIT))
    assert len(rows) == obj["n_archs"] and all(r[2] is not None for r in rows)
    assert obj["split"]["sha256"] == runner.load_split(SPLIT).sha256
    for key in ("wall_s_per_arch_median", "wall_s_per_arch_p90", "peak_rss_mb"):
        assert obj["cost"][key] >= 0


def test_raising_estimator_is_recorded_and_fails_the_contract(cfg):
    def boom(ctx):
        if "nor_conv_3x3~0" in ctx.spec:
            raise RuntimeError("kaboom")
        return 1.0

    obj = runner.run([_est("boom", boom)], SPLIT, cfg)["boom"]
    assert not obj["contract_ok"] and obj["n_errors"] > 0
    assert "kaboom" in obj["errors"][0]["message"]
    assert "Traceback" in obj["errors"][0]["message"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, "1.0", np.ones(2), True])
def test_bad_return_values_are_counted(cfg, value):
    def bad(ctx):
        return value if ctx.spec.startswith("|none~0|") else 1.0

    obj = runner.run([_est("bad", bad)], SPLIT, cfg)["bad"]
    assert not obj["contract_ok"]
    assert obj["n_nonfinite"] > 0 and obj["n_errors"] == 0
    assert obj["nonfinite_arch_ids"]
    # Failures are ranked last, never dropped: metrics still cover every architecture.
    assert obj["metrics"]["mean"]["kendall"] is not None


def test_nondeterministic_estimator_is_caught(cfg):
    counter = iter(range(10**6))

    def drift(ctx):
        return float(next(counter))

    obj = runner.run([_est("drift", drift)], SPLIT, cfg)["drift"]
    assert not obj["contract_ok"]
    assert any("re-scored alone" in p for p in obj["contract_problems"])


def test_determinism_check_tells_other_environments_from_this_one(cfg):
    """A mismatch against a score from another machine is reported, not a contract failure."""
    import dataclasses

    est = _est("p", _n_params)
    runner.run([est], SPLIT, cfg)
    ck = runner.Checkpoint(results.checkpoint_path(cfg.results_dir, "p", SPLIT),
                           runner._fingerprint(est, runner.load_split(SPLIT), cfg), resume=True)
    recs = ck.records
    ck.close()
    here = runner.environment_key(cfg.device)
    assert all(r.env == here for r in recs.values())
    det = runner.check_determinism(est, SPLIT, cfg, recs)
    assert det.checked == 2 and det.bitwise_equal == 2 and not det.problems

    # Shift every score a little: as if the split had been scored on other CPUs.
    moved = {k: dataclasses.replace(r, score=r.score * (1 + 1e-6), env=e)
             for (k, r), e in zip(recs.items(), ["cpu:other", None] * len(recs))}
    det = runner.check_determinism(est, SPLIT, cfg, moved)
    assert not det.problems and det.bitwise_equal == 0 and len(det.cross_environment) == 2
    assert {c["recorded_env"] for c in det.cross_environment} <= {"cpu:other", "unrecorded"}
    assert all(c["rel_diff"] == pytest.approx(1e-6, rel=1e-3) for c in det.cross_environment)
    assert sum(det.environments.values()) == len(recs)

    # The same shift on scores recorded here is a reproducibility failure; local records
    # are the ones re-scored first.
    one = next(iter(moved))
    moved[one] = dataclasses.replace(moved[one], env=here)
    det = runner.check_determinism(est, SPLIT, cfg, moved)
    assert len(det.problems) == 1 and f"arch {one[0]} " in det.problems[0]


def test_hang_becomes_a_recorded_timeout(cfg):
    import dataclasses

    victim = runner.load_split(SPLIT).specs()[5]

    def hang(ctx):
        if ctx.spec == victim:
            while True:
                time.sleep(0.01)
        return 1.0

    cfg = dataclasses.replace(cfg, arch_timeout_s=0.2)
    obj = runner.run([_est("hang", hang)], SPLIT, cfg)["hang"]
    assert obj["n_errors"] >= 1 and "timeout" in obj["errors"][0]["message"]


def test_ground_truth_is_unreachable_from_the_context(cfg, monkeypatch):
    seen = []

    def spy(ctx):
        seen.append(sorted(vars(ctx)))
        return 1.0

    calls = []
    from harness.splits import Split

    orig = Split.ground_truth

    def tracked(self, *a, **k):
        calls.append(len(seen))
        return orig(self, *a, **k)

    monkeypatch.setattr(Split, "ground_truth", tracked)
    runner.run([_est("spy", spy)], SPLIT, cfg)
    n = len(runner.load_split(SPLIT))
    assert calls and min(calls) >= n  # truth loaded only after every architecture was scored
    assert not any("truth" in k or "acc" in k for k in seen[0])


def test_checkpoint_resume_skips_done_work_and_survives_a_torn_line(cfg):
    calls = []

    def counting(ctx):
        calls.append(ctx.spec)
        return float(len(ctx.spec))

    est = _est("cnt", counting)
    runner.score_split([est], SPLIT, cfg)
    n = len(runner.load_split(SPLIT))
    assert len(calls) == n
    ck = results.checkpoint_path(cfg.results_dir, "cnt", SPLIT)
    lines = ck.read_text().splitlines()
    # Simulate a kill: drop the last 30 records and leave half a line behind.
    ck.write_text("\n".join(lines[:-30]) + "\n" + lines[-30][: len(lines[-30]) // 2])
    calls.clear()
    ckpts = runner.score_split([est], SPLIT, cfg)
    assert len(calls) == 30
    assert len(ckpts["cnt"].records) == n


def test_incompatible_checkpoint_is_not_reused(cfg):
    import dataclasses

    calls = []

    def counting(ctx):
        calls.append(1)
        return 1.0

    runner.score_split([_est("c2", counting)], SPLIT, cfg)
    calls.clear()
    runner.score_split([_est("c2", counting)], SPLIT, dataclasses.replace(cfg, batch_size=32))
    assert len(calls) == len(runner.load_split(SPLIT))


def test_joint_scores_equal_separate_scores_and_share(cfg):
    computed = []

    def make(name, scale):
        def fn(ctx):
            v = ctx.shared("expensive", lambda: computed.append(1) or float(len(ctx.spec)))
            return v * scale
        return _est(name, fn)

    a, b = make("a", 1.0), make("b", 2.0)
    joint = runner.score_split([a, b], SPLIT, cfg)
    n = len(runner.load_split(SPLIT))
    assert len(computed) == n  # shared once per architecture
    import dataclasses

    alone = runner.score_split([b], SPLIT, dataclasses.replace(cfg, results_dir=cfg.results_dir
                                                               / "alone"))
    assert {k: r.score for k, r in joint["b"].records.items()} == \
           {k: r.score for k, r in alone["b"].records.items()}


def test_shards_partition_the_split():
    parts = [runner.shard_positions(10, (i, 3)) for i in range(3)]
    assert sorted(sum(parts, [])) == list(range(10))
    with pytest.raises(ValueError):
        runner.shard_positions(10, (3, 3))


def test_an_unfinished_shard_can_be_re_sharded_onto_more_workers(cfg):
    import dataclasses

    calls = []

    def counting(ctx):
        calls.append(ctx.spec)
        return float(len(ctx.spec))

    est = _est("rs", counting)
    split = runner.load_split(SPLIT)
    half = runner.shard_positions(len(split), (1, 2))
    runner.score_split([est], SPLIT, dataclasses.replace(cfg, shard=(1, 2)))
    # Leave shard 1/2 unfinished: keep its first 3 records only.
    ck = results.checkpoint_path(cfg.results_dir, "rs", SPLIT, "1/2")
    ck.write_text("\n".join(ck.read_text().splitlines()[:4]) + "\n")
    # A sibling made with other settings must never be adopted.
    other = dataclasses.replace(cfg, batch_size=32, shard=(3, 4))
    runner.score_split([est], SPLIT, other)
    results.checkpoint_path(cfg.results_dir, "rs", SPLIT, "3/4").rename(
        results.checkpoint_path(cfg.results_dir, "rs", SPLIT, "3/8"))
    calls.clear()
    runner.score_split([est], SPLIT, dataclasses.replace(cfg, shard=(1, 4)))
    runner.score_split([est], SPLIT, dataclasses.replace(cfg, shard=(3, 4)))
    assert len(calls) == len(half) - 3  # the three done cells were taken over, not redone
    runner.score_split([est], SPLIT, dataclasses.replace(cfg, shard=(0, 2)))
    calls.clear()
    merged = runner.merge_shards([est], SPLIT, cfg, 2)["rs"]
    assert merged["n_archs"] == len(split) and merged["contract_ok"]
    rows = results.read_scores(results.scores_path(cfg.results_dir, "rs", SPLIT))
    assert [r[2] for r in rows] == [float(len(s)) for s in split.specs(cfg.data_dir)]


def test_checkpoint_paths_never_match_a_longer_split_name(tmp_path):
    for name in (".nb101-1k.ckpt.jsonl", ".nb101-1k.shard1of2.ckpt.jsonl",
                 ".nb101-1k-x.ckpt.jsonl", ".nb101.ckpt.jsonl", ".nb101-1k.shardxof2.ckpt.jsonl"):
        (tmp_path / "e").mkdir(exist_ok=True)
        (tmp_path / "e" / name).write_text("")
    assert [p.name for p in results.checkpoint_paths(tmp_path, "e", "nb101-1k")] == [
        ".nb101-1k.ckpt.jsonl", ".nb101-1k.shard1of2.ckpt.jsonl"]
    assert results.checkpoint_paths(tmp_path, "missing", "nb101-1k") == []


def test_skip_reason_for_missing_images():
    from harness.splits import load_split

    img = _est("img", _n_params, needs_images=True)
    assert "images" in runner.skip_reason(img, load_split("nb201-c100"))
    assert runner.skip_reason(_est("free", _n_params), load_split("nb201-c100")) is None


def test_atomic_write_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "f.json"
    target.write_text("old")

    def failing(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write_bytes(target, failing)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_schema_rejects_stale_and_nan(tmp_path):
    with pytest.raises(results.ResultsSchemaError, match="schema_version"):
        results.validate({"schema_version": 0})
    with pytest.raises(results.ResultsSchemaError, match="missing field"):
        results.validate({"schema_version": results.SCHEMA_VERSION})
    assert math.isnan(float("nan"))
