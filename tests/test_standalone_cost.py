"""Standalone cost: the estimator alone, one thread, on fixed cells; and the site showing it."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import registry, trust
from harness.run import standalone
from harness.splits import load_split
from leaderboard.cells import cost_model
from leaderboard.collect import collect
from leaderboard.demo import DEMO_SPLIT, shared_demo_results

ROOT = Path(__file__).resolve().parents[1]


def test_positions_are_evenly_spaced_and_fixed():
    assert standalone.positions(100, 5) == [0, 25, 50, 74, 99]
    assert standalone.positions(3, 5) == [0, 1, 2]


def test_measure_times_the_estimator_alone_and_round_trips(tmp_path, data_dir):
    split = load_split(DEMO_SPLIT)
    cost = standalone.measure(registry.get("params"), split, n_cells=3, data_dir=data_dir)
    assert cost.estimator == "params" and cost.split == DEMO_SPLIT and cost.threads == 1
    assert cost.arch_ids == [split.arch_ids[p] for p in standalone.positions(len(split), 3)]
    assert 0 < cost.s_per_arch_median <= cost.s_per_arch_p90
    assert cost.peak_rss_mb >= cost.rss_before_mb > 0 and cost.n_failed == 0
    path = standalone.write(cost, tmp_path)
    assert path == tmp_path / "params" / f"{DEMO_SPLIT}.json"
    assert standalone.read(path) == cost
    assert cost.code_sha256 == trust.code_sha256(ROOT / "estimators" / "params.py")
    # --missing skips exactly this measurement: same version, split, cells, seed and code.
    params = registry.get("params")
    assert standalone.is_current(tmp_path, params, split, 3, 20)
    standalone.write(dataclasses.replace(cost, code_sha256="0" * 64), tmp_path)
    assert not standalone.is_current(tmp_path, params, split, 3, 20)  # earlier code
    standalone.write(dataclasses.replace(cost, code_sha256=None), tmp_path)
    assert standalone.is_current(tmp_path, params, split, 3, 20)  # unknown: nothing guessed
    assert not standalone.is_current(tmp_path, params, split, 4, 20)
    assert not standalone.is_current(tmp_path, params, split, 3, 2020)
    assert not standalone.is_current(tmp_path, registry.get("flops"), split, 3, 20)
    with pytest.raises(ValueError, match="one-shot"):
        standalone.measure(registry.get("oneshot_deiso"), split, n_cells=1, data_dir=data_dir)


def _board(tmp_path_factory, tmp_path, data_dir):
    base = tmp_path_factory.getbasetemp()
    demo = shared_demo_results(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base,
                               data_dir)
    results = tmp_path / "leaderboard" / "results"
    shutil.copytree(demo, results, ignore=shutil.ignore_patterns(".*"))
    return results


def _cost_file(results, version: str, sha: str, median: float = 0.25, **extra) -> None:
    d = results.parent / "costs" / "params"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{DEMO_SPLIT}.json").write_text(json.dumps({**extra,
        "schema_version": 1, "estimator": "params", "estimator_version": version,
        "split": DEMO_SPLIT, "split_sha256": sha, "arch_ids": [1, 2, 3], "seed": 20,
        "batch_size": 64, "n_batches": 1, "threads": 1, "s_per_arch_median": median,
        "s_per_arch_p90": 0.3, "peak_rss_mb": 512.0, "rss_before_mb": 400.0, "n_failed": 0,
        "environment": {"device_name": "AMD EPYC", "capability": "AVX512"},
        "measured_at": "2026-12-05T10:00:00+00:00"}))


def test_the_site_shows_the_standalone_cost_where_measured(tmp_path_factory, tmp_path,
                                                          data_dir):
    results = _board(tmp_path_factory, tmp_path, data_dir)
    obj = json.loads((results / "params" / f"{DEMO_SPLIT}.json").read_text())
    _cost_file(results, obj["estimator"]["version"], obj["split"]["sha256"])
    coll = collect(results, use_registry=False)
    res = coll.results[("params", DEMO_SPLIT)]
    assert res.standalone is not None and coll.results[("random", DEMO_SPLIT)].standalone is None
    cell = cost_model(res)
    assert cell.text == "0.25" and "joint" not in (cell.note or "")
    assert "standalone" in cell.title and "3 cells" in cell.title and "512 MB" in cell.title


def test_a_stale_standalone_cost_is_not_shown(tmp_path_factory, tmp_path, data_dir):
    results = _board(tmp_path_factory, tmp_path, data_dir)
    obj = json.loads((results / "params" / f"{DEMO_SPLIT}.json").read_text())
    _cost_file(results, "99", obj["split"]["sha256"])
    coll = collect(results, use_registry=False)
    assert coll.results[("params", DEMO_SPLIT)].standalone is None
    assert any("another estimator version" in w for w in coll.warnings)


def test_a_cost_measured_on_earlier_code_is_marked(tmp_path_factory, tmp_path, data_dir):
    """Same version (so the same scores), but the code has changed since the measurement, its
    own or that of an estimator it runs (here a made-up record that ``params`` runs
    ``flops``, which ``params.py`` does not: so it is not the same as now): the value stays,
    marked ‡ with the reason; current or unrecorded code is not marked."""
    results = _board(tmp_path_factory, tmp_path, data_dir)
    obj = json.loads((results / "params" / f"{DEMO_SPLIT}.json").read_text())
    args = (results, obj["estimator"]["version"], obj["split"]["sha256"])
    now = trust.code_sha256(ROOT / "estimators" / "params.py")
    for code, uses, marked in (("0" * 64, None, True), (now, None, False), (None, None, False),
                               (now, {}, False), (now, {"flops": "0" * 64}, True)):
        extra = {} if code is None else {"code_sha256": code}
        if uses is not None:
            extra["uses_code_sha256"] = uses
        _cost_file(*args, **extra)
        cell = cost_model(collect(results, use_registry=False).results[("params", DEMO_SPLIT)])
        assert cell.text == "0.25"
        assert ("‡" in (cell.note or "")) is marked, code
        assert ("measured on earlier code of this version" in cell.title) is marked, code


def test_record_code_fills_only_what_is_missing_and_known(tmp_path):
    def make(name: str, **extra) -> Path:
        path = tmp_path / name / f"{DEMO_SPLIT}.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({
            **extra, "schema_version": 1, "estimator": name, "estimator_version": "1",
            "split": DEMO_SPLIT, "split_sha256": "s", "arch_ids": [1], "seed": 20,
            "batch_size": 64, "n_batches": 1, "threads": 1, "s_per_arch_median": 0.1,
            "s_per_arch_p90": 0.2, "peak_rss_mb": 1.0, "rss_before_mb": 1.0, "n_failed": 0,
            "environment": {}, "measured_at": "2026-12-05T10:00:00+00:00"}))
        return path

    known, unknown = make("known"), make("unknown")
    done = make("done", code_sha256="c" * 64, uses_code_sha256={})
    # Its own code recorded, not what it runs: filled where the lookup agrees on its own.
    half = make("half", code_sha256="a" * 64)
    other = make("other", code_sha256="b" * 64)
    before = done.read_bytes(), other.read_bytes()
    asked = []

    def code_of(path, name):
        asked.append(name)
        return None if name == "unknown" else ("a" * 64, {"dep": "d" * 64}, "commit x")

    lines = list(standalone.record_code(tmp_path, code_of))
    assert sorted(asked) == ["half", "known", "other", "unknown"]
    assert standalone.read(known).code_sha256 == "a" * 64
    assert standalone.read(known).uses_code_sha256 == {"dep": "d" * 64}
    assert standalone.read(half).uses_code_sha256 == {"dep": "d" * 64}
    assert standalone.read(unknown).code_sha256 is None
    assert (done.read_bytes(), other.read_bytes()) == before
    assert any("recorded from commit x" in line for line in lines)
    assert any("not known" in line and "unknown" in line for line in lines)
    assert any("not the code it records" in line and "other" in line for line in lines)


def test_record_code_finds_the_code_committed_with_a_measurement(tmp_path, capsys):
    """``cost --record-code`` reads the estimator file, and the estimators it runs, at the
    first commit that held the measurement (later commits that only add to the file do not
    count); a measurement that was never committed has no known code."""
    from harness import __main__ as cli

    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, env=env,
                       capture_output=True)

    git("init", "-q")
    est_dir = tmp_path / "estimators"
    est_dir.mkdir()
    v1 = 'def score(ctx):\n    return ctx.estimate("base") + 1\n'
    (est_dir / "agg.py").write_text(v1)
    (est_dir / "base.py").write_text("x = 1\n")
    costs = tmp_path / "costs"
    measured = {"schema_version": 1, "estimator": "agg", "estimator_version": "1",
                "split": "s", "split_sha256": "s", "arch_ids": [1], "seed": 20,
                "batch_size": 64, "n_batches": 1, "threads": 1, "s_per_arch_median": 0.1,
                "s_per_arch_p90": 0.2, "peak_rss_mb": 1.0, "rss_before_mb": 1.0,
                "n_failed": 0, "environment": {}, "measured_at": "2026-12-05T10:00:00+00:00"}
    (costs / "agg").mkdir(parents=True)
    (costs / "agg" / "s.json").write_text(json.dumps(measured))
    git("add", "-A")
    git("commit", "-q", "-m", "measured")
    (est_dir / "base.py").write_text("x = 2\n")  # a later speed-up of what agg runs
    (costs / "agg" / "s.json").write_text(json.dumps({**measured, "note": "touched"}))
    git("commit", "-q", "-am", "speed-up; measurement file touched, not re-measured")
    (costs / "agg" / "t.json").write_text(json.dumps(
        {**measured, "split": "t", "measured_at": "2026-12-06T10:00:00+00:00"}))
    assert cli._record_cost_code(costs, tmp_path) == 0
    out = capsys.readouterr().out
    done = standalone.read(costs / "agg" / "s.json")
    assert done.code_sha256 == trust.code_sha256_of_text(v1)
    assert done.uses_code_sha256 == {"base": trust.code_sha256_of_text("x = 1\n")}
    assert "t.json: its code is not known" in out
    assert standalone.read(costs / "agg" / "t.json").code_sha256 is None


def test_estimated_code_follows_estimate_calls_transitively():
    """``a`` runs ``b`` and, through a name built at run time, something unseen; ``b`` runs
    ``c`` and ``a`` (a cycle); ``c`` runs a name with no file. The closure is {b, c}."""
    texts = {
        "a": 'def score(ctx):\n    n = "x"\n    return ctx.estimate("b") + ctx.estimate(n)\n',
        "b": 'def score(ctx):\n    return ctx.estimate("c") + ctx.estimate("a")\n',
        "c": 'def score(ctx):\n    return ctx.estimate("gone")\n',
    }
    assert trust.estimated_names(texts["a"]) == {"b"}
    got = trust.estimated_code("a", texts.get)
    assert got == {"b": trust.code_sha256_of_text(texts["b"]),
                   "c": trust.code_sha256_of_text(texts["c"])}
    assert trust.estimated_code("c", texts.get) == {}
    real = trust.estimated_code("vkdnw_agg", trust.files_text_of(ROOT / "estimators"))
    assert sorted(real) == ["az_nas", "vkdnw"]
