"""Standalone cost: the estimator alone, one thread, on fixed cells; and the site showing it."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from harness import registry
from harness.run import standalone
from harness.splits import load_split
from leaderboard.cells import cost_model
from leaderboard.collect import collect
from leaderboard.demo import DEMO_SPLIT, shared_demo_results


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
    # --missing skips exactly this measurement: same version, split, cells and seed.
    params = registry.get("params")
    assert standalone.is_current(tmp_path, params, split, 3, 20)
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


def _cost_file(results, version: str, sha: str, median: float = 0.25) -> None:
    d = results.parent / "costs" / "params"
    d.mkdir(parents=True)
    (d / f"{DEMO_SPLIT}.json").write_text(json.dumps({
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
