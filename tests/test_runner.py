"""The runner: contract checks, non-finite policy, checkpoints, determinism, results files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from harness import api, results, trust
from harness import run as runner
from harness.data import atomic_write_bytes
from harness.run import Session, check_determinism, current_environment
from harness.splits import load_split

SPLIT = "nb201-c10-smoke"


def score_split(ests, split, cfg):
    return runner.score_split(Session.create(ests, split, cfg))


def run(ests, split, cfg):
    return {k: v.to_dict() for k, v in runner.run(ests, split, cfg).items()}


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
    out = run([_est("p", _n_params)], SPLIT, cfg)["p"]
    path = results.results_path(cfg.results_dir, "p", SPLIT)
    obj = results.load_json(path)
    assert obj == json.loads(path.read_text()) and obj["contract_ok"]
    assert obj["n_archs"] == len(load_split(SPLIT)) and obj["n_nonfinite"] == 0
    assert obj["metrics"]["mean"]["kendall"] == out["metrics"]["per_seed"]["20"]["kendall"]
    assert obj["bias"]["complexity"]["kendall_with_params"] == pytest.approx(1.0)
    rows = results.read_scores(results.scores_path(cfg.results_dir, "p", SPLIT))
    assert len(rows) == obj["n_archs"] and all(r[2] is not None for r in rows)
    assert obj["split"]["sha256"] == load_split(SPLIT).sha256
    for key in ("wall_s_per_arch_median", "wall_s_per_arch_p90", "peak_rss_mb"):
        assert obj["cost"][key] >= 0
    # Provenance: the scores file and the file defining the estimator (here, this test file).
    assert obj["scores_sha256"] == results.file_sha256(path.with_name(obj["scores_file"]))
    assert obj["estimator"]["source_sha256"] == results.file_sha256(Path(__file__))
    assert obj["estimator"]["code_sha256"] == trust.code_sha256(Path(__file__))


def test_raising_estimator_is_recorded_and_fails_the_contract(cfg):
    def boom(ctx):
        if "nor_conv_3x3~0" in ctx.spec:
            raise RuntimeError("kaboom")
        return 1.0

    obj = run([_est("boom", boom)], SPLIT, cfg)["boom"]
    assert not obj["contract_ok"] and obj["n_errors"] > 0
    assert "kaboom" in obj["errors"][0]["message"] and obj["errors"][0]["kind"] == "raised"
    assert "Traceback" in obj["errors"][0]["message"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, "1.0", np.ones(2), True])
def test_bad_return_values_are_counted(cfg, value):
    def bad(ctx):
        return value if ctx.spec.startswith("|none~0|") else 1.0

    obj = run([_est("bad", bad)], SPLIT, cfg)["bad"]
    assert not obj["contract_ok"]
    assert obj["n_nonfinite"] > 0 and obj["n_errors"] == 0
    assert obj["nonfinite_arch_ids"]
    # A broken contract gets no metrics (failures ranked last would flatter it).
    assert obj["metrics"] is None and obj["bias"] is None
    assert all(e["kind"] == "value" for e in obj["errors"]) or not obj["errors"]


def test_nondeterministic_estimator_is_caught(cfg):
    counter = iter(range(10**6))

    def drift(ctx):
        return float(next(counter))

    obj = run([_est("drift", drift)], SPLIT, cfg)["drift"]
    assert not obj["contract_ok"]
    assert any("re-scored alone" in p for p in obj["contract_problems"])


def test_determinism_check_tells_other_environments_from_this_one(cfg):
    """A mismatch against a score from another machine is reported, not a contract failure."""
    import dataclasses

    est = _est("p", _n_params)
    run([est], SPLIT, cfg)
    session = Session.create([est], SPLIT, cfg)
    recs = runner.read_checkpoint(results.checkpoint_path(cfg.results_dir, "p", SPLIT),
                                  session.scoring_key(est))
    here = current_environment(cfg.device).to_dict()
    assert all(r.env == here for r in recs.values())
    det = check_determinism(session, est, recs)
    assert det.checked == 2 and det.equal == 2 and not det.problems

    # Shift every score a little: as if the split had been scored on other CPUs.
    other = dict(here, device_name="Other CPU", flags_digest="0000000000")
    moved = {k: dataclasses.replace(r, score=r.score * (1 + 1e-6), env=e)
             for (k, r), e in zip(recs.items(), [other, None] * len(recs))}
    det = check_determinism(session, est, moved)
    assert not det.problems and det.equal == 0 and len(det.cross_environment) == 2
    assert all(c.recorded_env in (other, None) for c in det.cross_environment)
    assert all(c.rel_diff == pytest.approx(1e-6, rel=1e-3) for c in det.cross_environment)
    assert sum(e.n_scores for e in det.environments) == len(recs)
    assert {None, "Other CPU"} <= {e.environment and e.environment["device_name"]
                                   for e in det.environments}

    # The same shift on scores recorded here is a reproducibility failure; local records
    # are the ones re-scored first.
    one = next(iter(moved))
    moved[one] = dataclasses.replace(moved[one], env=here)
    det = check_determinism(session, est, moved)
    assert len(det.problems) == 1 and f"arch {one[0]} " in det.problems[0]


def test_a_prepare_that_overruns_its_limit_stops_the_run_naming_it(cfg):
    import dataclasses

    def slow_prepare(pctx):
        time.sleep(5)
        return None

    est = _est("slowprep", _n_params, prepare=slow_prepare)
    limited = dataclasses.replace(cfg, prepare_timeout_s=0.2)
    with pytest.raises(runner.PrepareTimeout, match=r"'slowprep', seed 20: prepare\(\) "
                                                    r"exceeded the prepare\(\) limit"):
        Session.create([est], SPLIT, limited).states(20)
    assert runner.RunConfig().prepare_timeout_s == 0.0  # no limit unless asked


def test_hang_becomes_a_recorded_timeout(cfg):
    import dataclasses

    victim = load_split(SPLIT).specs()[5]

    def hang(ctx):
        if ctx.spec == victim:
            while True:
                time.sleep(0.01)
        return 1.0

    cfg = dataclasses.replace(cfg, arch_timeout_s=0.2)
    obj = run([_est("hang", hang)], SPLIT, cfg)["hang"]
    assert obj["n_errors"] >= 1 and "timeout" in obj["errors"][0]["message"]
    assert obj["errors"][0]["kind"] == "timeout"


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
    run([_est("spy", spy)], SPLIT, cfg)
    n = len(load_split(SPLIT))
    assert calls and min(calls) >= n  # truth loaded only after every architecture was scored
    assert not any("truth" in k or "acc" in k for k in seen[0])


def _counting_est(calls: list) -> api.Estimator:
    """An estimator scoring the spec's length that records every call in ``calls``."""
    def counting(ctx):
        calls.append(ctx.spec)
        return float(len(ctx.spec))

    return _est("cnt", counting)


def test_checkpoint_resume_skips_done_work_and_survives_a_torn_line(cfg):
    calls: list = []
    est = _counting_est(calls)
    score_split([est], SPLIT, cfg)
    n = len(load_split(SPLIT))
    assert len(calls) == n
    ck = results.checkpoint_path(cfg.results_dir, "cnt", SPLIT)
    lines = ck.read_text().splitlines()
    # Simulate a kill: drop the last 30 records and leave half a line behind.
    ck.write_text("\n".join(lines[:-30]) + "\n" + lines[-30][: len(lines[-30]) // 2])
    calls.clear()
    ckpts = score_split([est], SPLIT, cfg)
    assert len(calls) == 30
    assert len(ckpts["cnt"].records) == n


def test_a_checkpoint_with_other_settings_is_never_overwritten(cfg):
    import dataclasses

    calls = []

    def counting(ctx):
        calls.append(1)
        return 1.0

    score_split([_est("c2", counting)], SPLIT, cfg)
    path = results.checkpoint_path(cfg.results_dir, "c2", SPLIT)
    before = path.read_bytes()
    calls.clear()
    with pytest.raises(runner.CheckpointMismatch, match="batch_size: checkpoint 64, this run 32"):
        score_split([_est("c2", counting)], SPLIT, dataclasses.replace(cfg, batch_size=32))
    assert path.read_bytes() == before and not calls
    # --no-resume starts over and keeps the old file beside the new one.
    score_split([_est("c2", counting)], SPLIT,
                dataclasses.replace(cfg, batch_size=32, resume=False))
    assert len(calls) == len(load_split(SPLIT))
    kept = [p for p in path.parent.iterdir() if p.name.startswith(path.name + ".old-")]
    assert len(kept) == 1 and kept[0].read_bytes() == before


def test_joint_scores_equal_separate_scores_and_share(cfg):
    computed = []

    def make(name, scale):
        def fn(ctx):
            v = ctx.shared("expensive", lambda: computed.append(1) or float(len(ctx.spec)))
            return v * scale
        return _est(name, fn)

    a, b = make("a", 1.0), make("b", 2.0)
    joint = score_split([a, b], SPLIT, cfg)
    n = len(load_split(SPLIT))
    assert len(computed) == n  # shared once per architecture
    import dataclasses

    alone = score_split([b], SPLIT, dataclasses.replace(cfg, results_dir=cfg.results_dir
                                                               / "alone"))
    assert {k: r.score for k, r in joint["b"].records.items()} == \
           {k: r.score for k, r in alone["b"].records.items()}


def test_contexts_say_whether_their_passes_are_shared(cfg):
    """Alone, a pass may free its graph (GraSP's Hessian backward does); jointly, not."""
    a, b = _est("a", _n_params), _est("b", _n_params)
    session = Session.create([a, b], SPLIT, cfg)
    assert [c.sharing for _, _, c in session.contexts([a, b], 0, 20, {})] == [True, True]
    assert [c.sharing for _, _, c in session.contexts([a], 0, 20, {})] == [False]
    assert [c.sharing for _, _, c in session.contexts([a, b], 0, 20, {}, share=False)] == \
        [False, False]


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
    split = load_split(SPLIT)
    half = runner.shard_positions(len(split), (1, 2))
    score_split([est], SPLIT, dataclasses.replace(cfg, shard=(1, 2)))
    # Leave shard 1/2 unfinished: keep its first 3 records only.
    ck = results.checkpoint_path(cfg.results_dir, "rs", SPLIT, "1/2")
    ck.write_text("\n".join(ck.read_text().splitlines()[:4]) + "\n")
    # A sibling made with other settings must never be adopted.
    other = dataclasses.replace(cfg, batch_size=32, shard=(3, 4))
    score_split([est], SPLIT, other)
    results.checkpoint_path(cfg.results_dir, "rs", SPLIT, "3/4").rename(
        results.checkpoint_path(cfg.results_dir, "rs", SPLIT, "3/8"))
    calls.clear()
    score_split([est], SPLIT, dataclasses.replace(cfg, shard=(1, 4)))
    score_split([est], SPLIT, dataclasses.replace(cfg, shard=(3, 4)))
    assert len(calls) == len(half) - 3  # the three done cells were taken over, not redone
    score_split([est], SPLIT, dataclasses.replace(cfg, shard=(0, 2)))
    calls.clear()
    merged = runner.merge_shards([est], SPLIT, cfg, 2)["rs"]
    assert merged.n_archs == len(split) and merged.contract_ok
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


def test_schema_rejects_stale_missing_unknown_and_nan(cfg):
    run([_est("p", _n_params)], SPLIT, cfg)
    path = results.results_path(cfg.results_dir, "p", SPLIT)
    good = json.loads(path.read_text())
    results.validate(good)
    with pytest.raises(results.ResultsSchemaError, match="schema_version"):
        results.validate({"schema_version": 0})
    with pytest.raises(results.ResultsSchemaError, match="missing field"):
        results.validate({"schema_version": results.SCHEMA_VERSION})
    with pytest.raises(results.ResultsSchemaError, match="unknown field"):
        results.validate({**good, "extra": 1})
    bad = json.loads(json.dumps(good))
    bad["metrics"]["mean"]["kendall"] = float("nan")
    with pytest.raises(results.ResultsSchemaError, match="non-finite number at /metrics/mean"):
        results.validate(bad)
    # A NaN can never reach a results file on disk either.
    with pytest.raises(results.ResultsSchemaError):
        results.write_json(path, bad)
    assert json.loads(path.read_text()) == good


def test_an_estimator_failing_on_its_first_cells_stops_the_run(cfg):
    calls = []

    def broken(ctx):
        calls.append(1)
        raise RuntimeError("always broken")

    with pytest.raises(runner.EstimatorBroken, match="first 3 architectures.*always broken"):
        runner.run([_est("brk", broken)], SPLIT, cfg)
    assert len(calls) == 3
    # --fail-fast=0 scores on regardless (and records every failure).
    import dataclasses

    obj = run([_est("brk", broken)], SPLIT, dataclasses.replace(cfg, fail_fast=0))["brk"]
    assert obj["n_errors"] == len(load_split(SPLIT)) and obj["metrics"] is None


def test_a_returned_string_is_named_in_the_message(cfg):
    def words(ctx):
        return "high" if ctx.spec.startswith("|none~0|") else 1.0

    obj = run([_est("words", words)], SPLIT, cfg)["words"]
    assert not obj["contract_ok"] and obj["n_nonfinite"] > 0
    problems = " ".join(obj["contract_problems"])
    assert "non-finite or non-float" in problems
    from harness.run.scoring import as_score

    assert as_score("high") == (None, "returned str ('high'), not a float")
    assert as_score(float("nan")) == (None, "returned non-finite value nan")


def test_population_level_estimator_aggregates_after_scoring_and_stores_components(cfg):
    """Components are stored per cell; the aggregation runs once per seed over the whole split
    (after a merge for sharded runs) and sees only components and specs."""
    import dataclasses

    seen = []

    def agg(pop: api.Population):
        seen.append(pop)
        return pop.components["a"] + 2.0 * pop.components["b"]

    info = api.EstimatorInfo(name="pop", kind="zero-shot", idea="t", paper=None, version="1",
                             needs_images=False, data_independent=True, components=("a", "b"))

    def score(ctx):
        return {"a": float(len(ctx.spec)), "b": float(ctx.spec.count("conv"))}

    est = api.Estimator(info=info, score=score, module="tests.pop", aggregate=agg)
    for i in range(2):
        runner.score_split(Session.create([est], SPLIT, dataclasses.replace(cfg, shard=(i, 2))))
    assert not seen  # no aggregation while shards are scored
    res = runner.merge_shards([est], SPLIT, cfg, 2)["pop"]
    assert res.contract_ok and len(seen) == 1
    assert set(vars(seen[0])) == {"components", "specs", "space", "dataset", "seed"}
    specs = load_split(SPLIT).specs(cfg.data_dir)
    rows = results.read_scores_with_components(results.scores_path(cfg.results_dir, "pop", SPLIT))
    by_id = {a: (v, c) for a, _s, v, c in rows}
    for arch_id, spec in zip(load_split(SPLIT).arch_ids, specs):
        v, c = by_id[arch_id]
        assert c == {"a": float(len(spec)), "b": float(spec.count("conv"))}
        assert v == c["a"] + 2.0 * c["b"]  # recomputable from the scores file alone
    assert res.estimator.components == ["a", "b"]


def test_a_population_level_estimators_stored_seeds_are_taken_over_by_their_components(cfg):
    import dataclasses

    calls: list[int] = []
    info = api.EstimatorInfo(name="pop", kind="zero-shot", idea="t", paper=None, version="1",
                             needs_images=False, data_independent=True, components=("a", "b"))

    def score(ctx):
        calls.append(ctx.seed)
        return {"a": float(len(ctx.spec)), "b": float(ctx.spec.count("conv")) + ctx.seed}

    def agg(pop: api.Population):
        return pop.components["a"] + pop.components["b"]

    est = api.Estimator(info=info, score=score, module="tests.pop", aggregate=agg)
    run([est], SPLIT, cfg)
    for ck in results.checkpoint_paths(cfg.results_dir, "pop", SPLIT):
        ck.unlink()
    calls.clear()
    two = dataclasses.replace(cfg, seeds=(20, 2020))
    out = run([est], SPLIT, two)["pop"]
    n = len(load_split(SPLIT))
    assert calls.count(20) <= 3 + two.determinism_checks and calls.count(2020) >= n
    assert out["contract_ok"]
    fresh = dataclasses.replace(two, results_dir=cfg.results_dir.parent / "fresh")
    run([est], SPLIT, fresh)
    assert results.read_scores_with_components(
        results.scores_path(cfg.results_dir, "pop", SPLIT)) == \
        results.read_scores_with_components(results.scores_path(fresh.results_dir, "pop",
                                                                 SPLIT))


def test_merge_names_the_seeds_the_shards_hold(cfg):
    import dataclasses

    est = _est("ms", _n_params)
    for i in range(2):
        runner.score_split(Session.create([est], SPLIT, dataclasses.replace(cfg, shard=(i, 2))))
    with pytest.raises(runner.IncompleteRun, match=r"hold seeds \[20\].*asked for seeds "
                                                   r"\[20, 2020\].*pass the shards' --seeds"):
        runner.merge_shards([est], SPLIT, dataclasses.replace(cfg, seeds=(20, 2020)), 2)


def test_a_local_run_is_compared_with_the_committed_result(cfg, monkeypatch, tmp_path):
    """The summary names both τ and the largest relative score difference."""
    import dataclasses
    import shutil

    from harness.run import summary

    committed = tmp_path / "committed"
    run([_est("p", _n_params)], SPLIT, dataclasses.replace(cfg, results_dir=committed))
    mine = run([_est("p", _n_params)], SPLIT, cfg)
    monkeypatch.setattr(summary, "committed_results_dir", lambda: committed)
    res = results.load_result(results.results_path(cfg.results_dir, "p", SPLIT))
    line = summary.compare_with_committed(res, cfg.results_dir)
    tau = mine["p"]["metrics"]["mean"]["kendall"]
    assert f"τ {tau:+.4f} (committed) / {tau:+.4f} (this run)" in line
    assert "100 common scores, largest relative difference 0" in line
    # Change one committed score: the difference is reported.
    path = results.scores_path(committed, "p", SPLIT)
    rows = results.read_scores(path)
    rows[0] = (rows[0][0], rows[0][1], rows[0][2] * 1.5)
    results.write_scores(path, rows)
    assert "largest relative difference 0.33" in summary.compare_with_committed(
        res, cfg.results_dir)
    shutil.rmtree(committed)
    assert summary.compare_with_committed(res, cfg.results_dir) is None


def _seeded_params(calls):
    def score(ctx):
        calls.append(ctx.seed)
        torch_gen = np.random.default_rng(ctx.seed)
        net = ctx.build()
        return float(sum(p.numel() for p in net.parameters())) + float(torch_gen.random())
    return score


def test_seeds_held_by_the_results_file_are_taken_over_after_a_bit_exact_probe(
        cfg, tmp_path):
    import dataclasses

    from harness.run.stored import STORED_ORIGIN

    calls: list[int] = []
    est = _est("sd", _seeded_params(calls))
    run([est], SPLIT, cfg)  # seed 20 only, as committed results of one seed are
    n = len(load_split(SPLIT))
    for ck in results.checkpoint_paths(cfg.results_dir, "sd", SPLIT):
        ck.unlink()  # a fresh clone has the results file, never the checkpoint

    calls.clear()
    two = dataclasses.replace(cfg, seeds=(20, 2020))
    out = run([est], SPLIT, two)["sd"]
    # Seed 20: the three probes and the determinism re-checks only; seed 2020 in full.
    assert calls.count(20) <= 3 + two.determinism_checks
    assert calls.count(2020) >= n
    assert out["contract_ok"]
    assert "taken over from the stored result" in out["cost"]["note"]
    recs = results.read_scores(results.scores_path(cfg.results_dir, "sd", SPLIT))
    ck = runner.read_checkpoint(results.checkpoint_path(cfg.results_dir, "sd", SPLIT),
                                Session.create([est], SPLIT, two).scoring_key(est))
    assert sum(r.origin == STORED_ORIGIN for r in ck.values()) == n - 3

    # The same two seeds scored from scratch give the same bytes of scores.
    fresh = dataclasses.replace(two, results_dir=tmp_path / "fresh")
    run([est], SPLIT, fresh)
    assert results.read_scores(results.scores_path(fresh.results_dir, "sd", SPLIT)) == recs

    # A scores file that is not the one recorded (edited by hand): nothing in it is trusted,
    # both seeds are scored again in full.
    def forget_journals():
        for ck_path in results.checkpoint_paths(cfg.results_dir, "sd", SPLIT):
            ck_path.unlink()

    forget_journals()
    scores = results.scores_path(cfg.results_dir, "sd", SPLIT)
    pristine = scores.read_bytes()
    edited = _shift_stored_score(scores, load_split(SPLIT).arch_ids[0], 20, 1.0)
    calls.clear()
    run([est], SPLIT, two)
    assert calls.count(20) >= n and calls.count(2020) >= n
    assert results.read_scores(scores) == recs

    # A recorded scores file that a probe contradicts (scores of another code, same version):
    # that seed is scored again in full ...
    forget_journals()
    scores.write_bytes(edited)
    _record_scores_file(cfg.results_dir, "sd")
    calls.clear()
    run([est], SPLIT, two)
    # ... while seed 2020, which the file also holds, passes its probe and is taken over.
    assert calls.count(20) >= n and calls.count(2020) <= 3 + two.determinism_checks
    assert results.read_scores(scores) == recs
    assert scores.read_bytes() == pristine


def _shift_stored_score(scores, arch_id: int, seed: int, delta: float) -> bytes:
    """Add ``delta`` to one stored score (the file then no longer matches its record)."""
    import gzip

    text = gzip.decompress(scores.read_bytes()).decode().splitlines()
    i = next(k for k, line in enumerate(text) if line.startswith(f"{arch_id},{seed},"))
    a, s, v = text[i].split(",")
    text[i] = ",".join([a, s, repr(float(v) + delta)])
    scores.write_bytes(gzip.compress(("\n".join(text) + "\n").encode()))
    return scores.read_bytes()


def _record_scores_file(results_dir, est: str, environment: dict | None = None) -> None:
    """Rewrite the results file as if the harness had written the scores file beside it (and,
    with ``environment``, as if every score came from that numeric environment)."""
    path = results.results_path(results_dir, est, SPLIT)
    obj = json.loads(path.read_text())
    obj["scores_sha256"] = results.file_sha256(path.with_name(obj["scores_file"]))
    if environment is not None:
        n = sum(e["n_scores"] for e in obj["determinism"]["environments"])
        obj["determinism"]["environments"] = [{"environment": environment, "n_scores": n}]
        obj["environment"]["device_name"] = environment["device_name"]
    results.write_json(path, obj)


@pytest.mark.parametrize("shift, taken_over, model", [
    (1e-9, True, None), (0.5, False, None),
    # probes that give the stored bits on another CPU kind (as SWAP's integer counts mostly
    # do): the seed still keeps the environment it was scored in
    (0.0, True, None),
    # another CPU model, not only another instruction set (AMD EPYC -> Intel Xeon)
    (1e-9, True, "Another CPU model"), (0.5, False, "Another CPU model")])
def test_stored_seeds_of_another_cpu_kind_are_taken_over_within_the_tolerance(
        cfg, shift, taken_over, model):
    """On another CPU kind the probes differ in the last bits: the seed is taken over, with
    every stored score and its environment, when each probe is within CROSS_ENV_RTOL."""
    import dataclasses

    from harness.run.stored import CROSS_ENV_RTOL, STORED_ORIGIN

    calls: list[int] = []
    est = _est("sd", _seeded_params(calls))
    run([est], SPLIT, cfg)
    for ck in results.checkpoint_paths(cfg.results_dir, "sd", SPLIT):
        ck.unlink()
    split = load_split(SPLIT)
    scores = results.scores_path(cfg.results_dir, "sd", SPLIT)
    first = dict(((a, s), v) for a, s, v in results.read_scores(scores))[(split.arch_ids[0], 20)]
    assert abs(shift) / abs(first) < CROSS_ENV_RTOL or not taken_over
    _shift_stored_score(scores, split.arch_ids[0], 20, shift * abs(first))
    other = dict(current_environment("cpu").to_dict(), capability="AVX2", flags_digest="0" * 10)
    if model is not None:
        other["device_name"] = model
    _record_scores_file(cfg.results_dir, "sd", environment=other)
    stored = results.read_scores(scores)

    calls.clear()
    two = dataclasses.replace(cfg, seeds=(20, 2020))
    out = run([est], SPLIT, two)["sd"]
    n = len(split)
    now = {(a, s): v for a, s, v in results.read_scores(scores)}
    if taken_over:
        assert calls.count(20) <= 3 + two.determinism_checks
        assert [(a, s, v) for a, s, v in stored] == [(a, 20, now[(a, 20)]) for a, _, _ in stored]
        envs = {tuple(sorted((e["environment"] or {}).items())): e["n_scores"]
                for e in out["determinism"]["environments"]}
        assert envs[tuple(sorted(other.items()))] == n  # seed 20 keeps its environment
        assert out["contract_ok"]  # differences across environments are not problems
        ck = runner.read_checkpoint(results.checkpoint_path(cfg.results_dir, "sd", SPLIT),
                                    Session.create([est], SPLIT, two).scoring_key(est))
        assert sum(r.origin == STORED_ORIGIN for r in ck.values()) == n
    else:
        assert calls.count(20) >= n
        assert now[(split.arch_ids[0], 20)] == first


def test_a_run_never_drops_seeds_or_other_settings_silently(cfg):
    import dataclasses

    est = _est("n_params", _n_params)
    two = dataclasses.replace(cfg, seeds=(20, 2020))
    runner.run([est], SPLIT, two)
    path = results.results_path(cfg.results_dir, "n_params", SPLIT)
    before = path.read_bytes()
    with pytest.raises(runner.UsageError, match=r"holds seed\(s\) 2020 .*--seeds=20,2020"):
        runner.run([est], SPLIT, dataclasses.replace(cfg, seeds=(20,)))
    with pytest.raises(runner.UsageError, match=r"other settings \(batch size: file 64, this "
                                                r"run 32\).*--no-resume"):
        runner.run([est], SPLIT, dataclasses.replace(two, batch_size=32))
    assert path.read_bytes() == before  # nothing replaced, nothing scored
    # --no-resume replaces it, and the old files are moved aside, not deleted.
    runner.run([est], SPLIT, dataclasses.replace(cfg, seeds=(20,), resume=False))
    kept = sorted(p.name for p in path.parent.iterdir()
                  if ".old-" in p.name and not p.name.startswith("."))
    assert [n.split(".old-")[0] for n in kept] == [f"{SPLIT}.json", f"{SPLIT}.scores.csv.gz"]
    assert (path.parent / kept[0]).read_bytes() == before
    # Another version is a stale result, replaced as by any re-run.
    newer = _est("n_params", _n_params)
    object.__setattr__(newer.info, "version", "2")
    assert runner.run([newer], SPLIT, two)["n_params"]


def test_all_leaves_out_one_shot_estimators_and_says_what_it_skips(data_dir):
    from harness import registry
    from harness.run.frontend import build_run

    run_ = build_run({"estimator": "all", "split": "nb201-c100", "data_dir": data_dir,
                      "device": "cpu"})
    kinds = {e.info.kind for e in run_.estimators}
    assert "one-shot" not in kinds and {"zero-shot", "baseline"} <= kinds
    oneshot = [e.name for e in registry.discover().values() if e.info.kind == "one-shot"]
    assert any("leaves out the one-shot" in n and all(o in n for o in oneshot)
               for n in run_.notes)
    # CIFAR-100 images do not ship: every image-based estimator is named with the reason.
    skipped = [n for n in run_.notes if n.startswith("skipped ")]
    assert any(n.startswith("skipped snip on nb201-c100: snip needs cifar100 images")
               for n in skipped)
    assert not any(n.startswith("skipped params ") for n in skipped)
    named = build_run({"estimator": "oneshot_deiso", "split": "nb201-c10-smoke",
                       "data_dir": data_dir, "device": "cpu"})
    assert [e.name for e in named.estimators] == ["oneshot_deiso"] and not named.notes


def test_seeds_are_distinct_and_in_range():
    from harness.run.config import parse_seeds

    assert parse_seeds("20, 2020,202020") == (20, 2020, 202020)
    for bad, message in (("20,20,20", "repeats 20"), ("99999999999999999999", "0..2\\*\\*63-1"),
                         ("-1", "0..2\\*\\*63-1"), ("x", "comma list"), (",", "empty")):
        with pytest.raises(runner.UsageError, match=message):
            parse_seeds(bad)


def test_run_options_are_declared_once_on_the_config_fields(data_dir, tmp_path):
    """Each user-set field of RunConfig carries its option; the command-line defaults and the
    config built from no values at all are the fields' defaults (bar those resolved at run
    time: device, data and results directories)."""
    import dataclasses
    import inspect

    from harness import notebook
    from harness.run.config import OPTIONS, RunConfig
    from harness.run.frontend import build_run

    declared = {f.name: f for f in dataclasses.fields(RunConfig) if "option" in f.metadata}
    assert set(declared) == {f.name for f in dataclasses.fields(RunConfig)} - {"cache_dir"}
    assert [o.field for o in OPTIONS if o.field] == list(declared)
    built = build_run({"estimator": "params", "split": SPLIT, "data_dir": data_dir,
                       "results_dir": str(tmp_path), "device": "cpu"}).config
    defaults = RunConfig()
    for name in set(declared) - {"data_dir", "results_dir"}:
        assert getattr(built, name) == getattr(defaults, name), name
    # The notebook API shows the same defaults.
    sig = inspect.signature(notebook.evaluate).parameters
    assert sig["seeds"].default == defaults.seeds
    assert sig["batch_size"].default == defaults.batch_size
    assert sig["batches"].default == defaults.n_batches


def test_an_estimator_cannot_catch_its_own_time_limit(cfg):
    import dataclasses

    victim = load_split(SPLIT).specs()[5]

    def swallow(ctx):
        try:
            while ctx.spec == victim:
                time.sleep(0.01)
        except Exception:  # what a careless submission might write
            return -1.0
        return 1.0

    cfg = dataclasses.replace(cfg, arch_timeout_s=0.2)
    obj = run([_est("swallow", swallow)], SPLIT, cfg)["swallow"]
    assert obj["n_errors"] == 1 and obj["errors"][0]["kind"] == "timeout"


def test_an_estimator_cannot_leak_into_its_neighbours(cfg):
    import dataclasses

    import torch

    def _batch_sum(ctx):
        x, _ = ctx.batch
        return float(x.double().sum())

    def rude(ctx):
        x, _ = ctx.batch
        x.mul_(0.0)  # edits its batch in place
        torch.set_default_dtype(torch.float64)  # and a process-wide setting
        return 1.0

    def polite(ctx):
        assert torch.get_default_dtype() == torch.float32
        return _batch_sum(ctx)

    ests = [_est("rude", rude, needs_images=True, data_independent=False),
            _est("polite", polite, needs_images=True, data_independent=False)]
    cfg = dataclasses.replace(cfg, shard=(0, 25), fail_fast=0)  # 4 cells
    joint = score_split(ests, SPLIT, cfg)
    assert torch.get_default_dtype() == torch.float32  # restored
    rude_recs = list(joint["rude"].records.values())
    assert rude_recs and all(r.failure == "state" for r in rude_recs)
    assert "default dtype torch.float32 -> torch.float64" in rude_recs[0].error
    alone = score_split([ests[1]], SPLIT, dataclasses.replace(cfg, results_dir=cfg.results_dir
                                                              / "alone"))
    assert all(r.failure is None for r in joint["polite"].records.values())
    assert {k: r.score for k, r in joint["polite"].records.items()} == \
           {k: r.score for k, r in alone["polite"].records.items()}


def test_a_damaged_checkpoint_is_never_overwritten_and_a_nan_line_is_rescored(cfg):
    calls: list = []
    est = _counting_est(calls)
    score_split([est], SPLIT, cfg)
    ck = results.checkpoint_path(cfg.results_dir, "cnt", SPLIT)
    lines = ck.read_text().splitlines()
    # A record that the harness never writes (NaN): skipped on resume and scored again.
    rec = json.loads(lines[5])
    lines[5] = lines[5].replace(json.dumps(rec["score"]), "NaN")
    ck.write_text("\n".join(lines) + "\n")
    calls.clear()
    ckpts = score_split([est], SPLIT, cfg)
    assert len(calls) == 1 and all(np.isfinite(r.score) for r in ckpts["cnt"].records.values())
    # One damaged byte in the scoring-key line: the run stops and the file stays as it was.
    damaged = "X" + ck.read_text()[1:]
    ck.write_text(damaged)
    with pytest.raises(runner.CheckpointMismatch, match="unreadable"):
        score_split([est], SPLIT, cfg)
    assert ck.read_text() == damaged


def test_a_scalar_estimator_is_the_identity_case_of_one_path(cfg, data_dir):
    """Every estimator goes through outputs + aggregation; a scalar one has the single output
    ``score`` and the identity, and its scores are the committed bits."""
    import dataclasses

    from harness import registry

    params = registry.get("params")
    assert params.outputs == (api.SCORE,) and params.aggregation is api.identity_aggregate
    pop = registry.get("az_nas")
    assert pop.outputs == pop.info.components and pop.aggregation is pop.aggregate
    cfg = dataclasses.replace(cfg, seeds=(20, 2020, 202020))
    runner.run([params], SPLIT, cfg)
    committed = Path(__file__).parents[1] / "leaderboard" / "results" / "params"
    assert results.read_scores(results.scores_path(cfg.results_dir, "params", SPLIT)) == \
        results.read_scores(committed / f"{SPLIT}.scores.csv.gz")


def test_a_result_is_dirty_only_when_code_differs_from_the_commit(tmp_path):
    """A campaign's own journals (tracked, changing while it runs) do not mark its results
    '-dirty'; an edit of the code does."""
    import subprocess

    from harness.run.environment import git_commit

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "harness").mkdir()
    (tmp_path / "leaderboard" / "results").mkdir(parents=True)
    (tmp_path / "harness" / "x.py").write_text("A = 1\n")
    journal = tmp_path / "leaderboard" / "results" / ".s.ckpt.jsonl"
    journal.write_text("{}\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    clean = git_commit(tmp_path)
    assert len(clean) == 40
    journal.write_text("{}\n{}\n")
    assert git_commit(tmp_path) == clean
    (tmp_path / "harness" / "x.py").write_text("A = 2\n")
    assert git_commit(tmp_path) == clean + "-dirty"
