"""Hostile submissions: what a malicious or careless estimator file tries, and the verdict it gets.

Each test writes a real submission file into a throw-away package, scores it the way a pull
request's estimator is scored (``--isolate``: a worker process of its own) and asserts the exact
verdict. The other classes of the hostile review are tested where they live: registration
(``test_registry.py``), leaked global state and shared batches, replaced results and damaged
checkpoints (``test_runner.py``), unsafe pages (``test_leaderboard.py``), the submission job
(``test_submission.py``).
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import textwrap

import pytest

from harness import api, registry, results
from harness import run as runner
from harness.run import EstimatorBroken, RunConfig, Session, isolated, score_split
from harness.run.isolation import GroundTruthGuard, forbidden_files
from harness.splits import load_split

SPLIT = "nb201-c10-smoke"
#: A shard of four cells (positions 0, 25, 50, 75): enough to show what happens next.
SHARD = (0, 25)

HEADER = '''
import os, signal, time
from pathlib import Path

from harness.api import estimator

def _params(ctx):
    return float(sum(p.numel() for p in ctx.build().parameters()))

VICTIM = {victim!r}
'''


@pytest.fixture
def submit(tmp_path, monkeypatch):
    """``submit(name, body) -> Estimator``: a submission file ``<pkg>/<name>.py``, imported as
    the registry imports one (the worker imports it again by module name)."""
    pkg = tmp_path / "hostile_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    victim = load_split(SPLIT).specs()[SHARD[1]]  # the second cell of the shard
    made = []

    def make(name: str, body: str) -> api.Estimator:
        (pkg / f"{name}.py").write_text(HEADER.format(victim=victim) + textwrap.dedent(body))
        importlib.import_module(f"hostile_pkg.{name}")
        made.append(name)
        return api.ESTIMATORS.get(name)

    yield make
    for name in made:
        api.ESTIMATORS.unregister(name)
        sys.modules.pop(f"hostile_pkg.{name}", None)
    sys.modules.pop("hostile_pkg", None)


@pytest.fixture
def cfg(tmp_path, data_dir, tmp_path_factory):
    return RunConfig(seeds=(20,), data_dir=data_dir, results_dir=tmp_path / "res",
                     cache_dir=tmp_path_factory.getbasetemp() / "estbench-cache",
                     determinism_checks=0, isolate=True, arch_timeout_s=1.0)


def _shard(ests, cfg) -> dict[str, list]:
    """Score the four cells of :data:`SHARD`; the records by estimator, in cell order."""
    session = Session.create(ests, SPLIT, dataclasses.replace(cfg, shard=SHARD))
    with isolated(session):
        ckpts = score_split(session)
    return {n: sorted(c.records.values(), key=lambda r: session.split.arch_ids.index(r.arch_id))
            for n, c in ckpts.items()}


PEEKS = {
    "open_the_csv": '''
        @estimator(name="open_the_csv", kind="zero-shot", idea="peek", version="1",
                   needs_images=False, data_independent=True)
        def open_the_csv(ctx):
            table = Path(os.environ["ESTBENCH_DATA"]) / "nasbench201" / "nb201_accuracies.csv"
            return float(len(table.read_text()))
    ''',
    "through_harness_data": '''
        from harness import data

        @estimator(name="through_harness_data", kind="zero-shot", idea="peek", version="1",
                   needs_images=False, data_independent=True)
        def through_harness_data(ctx):
            return float(len(data.load_table("nb201")))
    ''',
    "catches_the_refusal": '''
        @estimator(name="catches_the_refusal", kind="zero-shot", idea="peek", version="1",
                   needs_images=False, data_independent=True)
        def catches_the_refusal(ctx):
            try:
                Path(os.environ["ESTBENCH_DATA"], "nasbench201", "nb201_accuracies.csv").open()
            except Exception:
                pass
            return _params(ctx)
    ''',
    "at_import": '''
        ROWS = Path(os.environ["ESTBENCH_DATA"], "nds", "resnet_5k.csv").read_text()

        @estimator(name="at_import", kind="zero-shot", idea="peek", version="1",
                   needs_images=False, data_independent=True)
        def at_import(ctx):
            return float(len(ROWS))
    ''',
}


@pytest.mark.parametrize("name", ["open_the_csv", "through_harness_data", "catches_the_refusal"])
def test_peeking_at_ground_truth_fails_the_contract_by_name(submit, cfg, data_dir, name):
    est = submit(name, PEEKS[name])
    with pytest.raises(EstimatorBroken) as info:
        runner.run([est], SPLIT, cfg)
    why = info.value.broken[name]
    assert f"estimator {name!r} tried to read" in why
    assert "nb201_accuracies.csv: the contract forbids ground truth" in why
    # Nothing was written as a result: the stopped estimator has none.
    assert not results.results_path(cfg.results_dir, name, SPLIT).exists()


def test_peeking_at_import_time_fails_every_cell_by_name(submit, cfg):
    """The worker imports the file under the guard, so a read at import time is refused too
    (the parent, which imported it first, holds the truth anyway)."""
    est = submit("at_import", PEEKS["at_import"])
    with pytest.raises(EstimatorBroken) as info:
        _shard([est], cfg)
    assert "tried to read" in info.value.broken["at_import"]
    recs = info.value.checkpoints["at_import"].records.values()
    assert all("resnet_5k.csv: the contract forbids ground truth" in r.error for r in recs)


HANGS = {
    "ignores_the_alarm": '''
        @estimator(name="ignores_the_alarm", kind="zero-shot", idea="hang", version="1",
                   needs_images=False, data_independent=True)
        def ignores_the_alarm(ctx):
            if ctx.spec == VICTIM:
                signal.signal(signal.SIGALRM, signal.SIG_IGN)
                time.sleep(600)
            return _params(ctx)
    ''',
    "swallows_the_timeout": '''
        @estimator(name="swallows_the_timeout", kind="zero-shot", idea="hang", version="1",
                   needs_images=False, data_independent=True)
        def swallows_the_timeout(ctx):
            if ctx.spec == VICTIM:
                try:
                    time.sleep(600)
                except BaseException:
                    time.sleep(600)
            return _params(ctx)
    ''',
}


@pytest.mark.parametrize("name", sorted(HANGS))
def test_a_hang_the_estimator_controls_is_killed_from_outside(submit, cfg, name):
    recs = _shard([submit(name, HANGS[name])], cfg)[name]
    assert [r.failure for r in recs] == [None, "timeout", None, None]
    assert "killed by the harness after 6.0 s" in recs[1].error
    # The cells after it were scored, in a fresh worker, as in process.
    assert all(r.score is not None and r.score > 0 for r in recs if r.failure is None)


def test_a_worker_that_dies_is_recorded_and_replaced(submit, cfg):
    body = '''
        @estimator(name="exits", kind="zero-shot", idea="crash", version="1",
                   needs_images=False, data_independent=True)
        def exits(ctx):
            if ctx.spec == VICTIM:
                os._exit(3)
            return _params(ctx)
    '''
    recs = _shard([submit("exits", body)], cfg)["exits"]
    assert [r.failure for r in recs] == [None, "raised", None, None]
    assert "the worker process died (exit code 3)" in recs[1].error


def test_isolated_scores_are_the_same_bits(cfg):
    ests = [registry.get(n) for n in ("params", "grad_norm", "synflow")]
    cfg = dataclasses.replace(cfg, arch_timeout_s=600.0)
    alone = _shard(ests, cfg)
    joint = _shard(ests, dataclasses.replace(cfg, isolate=False, resume=False))
    for name in alone:
        assert [r.score for r in alone[name]] == [r.score for r in joint[name]], name
        assert all(r.failure is None for r in alone[name])


def test_a_broken_estimator_stops_alone(submit, cfg):
    """Fail-fast stops the estimator that failed; the one scored beside it is finalized."""
    body = '''
        @estimator(name="always_raises", kind="zero-shot", idea="bug", version="1",
                   needs_images=False, data_independent=True)
        def always_raises(ctx):
            raise RuntimeError("always broken")
    '''
    est = submit("always_raises", body)
    with pytest.raises(EstimatorBroken, match="first 3 architectures.*always broken") as info:
        # A generous time limit: this test is about a raising estimator, and the fixture's
        # 1 s limit made `params` time out on a loaded machine (a timing race).
        runner.run([est, registry.get("params")], SPLIT,
                   dataclasses.replace(cfg, isolate=False, arch_timeout_s=600.0))
    assert set(info.value.broken) == {"always_raises"}
    assert info.value.results["params"].contract_ok
    assert results.results_path(cfg.results_dir, "params", SPLIT).exists()


def test_the_guard_refuses_tables_and_other_processes(data_dir, tmp_path):
    guard = GroundTruthGuard("x", forbidden_files(data_dir), str(tmp_path))
    for table in forbidden_files(data_dir):
        assert guard.refused(table) == table
    (tmp_path / "copy.csv").write_text("a")
    assert guard.refused(tmp_path / "copy.csv")  # any table under the data directory
    assert guard.refused("/proc/1/mem")
    assert guard.refused("/proc/self/status") is None  # its own process
    assert guard.refused(tmp_path / "images.npz") is None
    with pytest.raises(PermissionError, match="the contract forbids ground truth"):
        guard("open", (next(iter(forbidden_files(data_dir))), "r", 0))


def test_isolation_refuses_what_it_cannot_isolate(cfg, data_dir):
    with pytest.raises(runner.UsageError, match="cannot isolate oneshot_deiso"):
        runner.run([registry.get("oneshot_deiso")], SPLIT, cfg)
