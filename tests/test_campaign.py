"""Campaigns: plans, status, budget stops under a fake clock, resume, the lock."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness import results
from harness.campaign import (
    Campaign,
    CampaignError,
    CampaignLock,
    PlanError,
    load_plan,
    parse_budget,
    plan_status,
)
from harness.campaign.cli import format_status
from harness.campaign.plan import find_job
from harness.campaign.status import JobStatus, _epoch_seconds, _journal_cost, this_device
from harness.oneshot import checkpoints
from harness.oneshot.scoring import OneShotOptions
from harness.oneshot.training import train
from harness.run.journal import Record

SPLIT = "nb201-c10-smoke"  # 100 cells
REPO = Path(__file__).resolve().parents[1]


class FakeClock:
    """One second passes at every reading: the budget counts clock readings, and every cell
    and training step reads the clock once (its stop check)."""

    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def write_plan(folder: Path, jobs: str, name: str = "plan.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text('[campaign]\nname = "t"\nresults_dir = "res"\ntrain_dir = "runs"\n\n' + jobs)
    return path


def score_job(estimators: str, seeds: str = "[20]", split: str = SPLIT) -> str:
    names = ", ".join(f'"{e}"' for e in estimators.split(","))
    return f'[[job]]\nestimators = [{names}]\nsplit = "{split}"\nseeds = {seeds}\n\n'


def campaign(folder: Path, plan: Path, budget: float = 1e9, workers: int = 2,
             clock=None) -> Campaign:
    return Campaign(load_plan(plan, base=folder), budget, workers=workers, executor="inline",
                    clock=clock or FakeClock(), write=lambda _s: None)


def scores_bytes(res_dir: Path, est: str, split: str = SPLIT) -> bytes:
    return results.scores_path(res_dir, est, split).read_bytes()


@pytest.fixture(autouse=True)
def _data_env(data_dir, monkeypatch):
    monkeypatch.setenv("ESTBENCH_DATA", data_dir)


def test_budget_stop_then_resume_from_a_fresh_copy_gives_the_same_bytes(tmp_path):
    jobs = score_job("params,l2_norm") + score_job("relu")
    a, c = tmp_path / "a", tmp_path / "c"
    plan_a = write_plan(a, jobs)
    report = campaign(a, plan_a, budget=60).run()
    assert report.stopped_by == "budget" and not report.finished
    first = plan_status(load_plan(plan_a, base=a))
    assert first[0].state == "partial" and 0 < first[0].done < 100
    assert first[1].state == "missing"  # later jobs never started
    assert all(Path(f).is_file() for f in first[0].state_files)

    # A fresh clone: only the committed state (the whole results directory) comes along.
    b = tmp_path / "b"
    shutil.copytree(a, b)
    report = campaign(b, b / "plan.toml", workers=2).run()
    assert report.stopped_by is None and len(report.finished) == 2 and not report.left
    # The journals are gone once merged: the results files hold the scores.
    assert not results.checkpoint_paths(b / "res", "params", SPLIT)

    write_plan(c, jobs)
    campaign(c, c / "plan.toml", workers=1).run()  # uninterrupted, and unsharded
    for est in ("params", "l2_norm", "relu"):
        assert scores_bytes(b / "res", est) == scores_bytes(c / "res", est), est
        rb = json.loads(results.results_path(b / "res", est, SPLIT).read_text())
        rc = json.loads(results.results_path(c / "res", est, SPLIT).read_text())
        assert rb["metrics"] == rc["metrics"] and rb["contract_ok"]


def test_status_counts_results_journals_and_stored_seeds(tmp_path):
    done = score_job("params")
    write_plan(tmp_path, done)
    campaign(tmp_path, tmp_path / "plan.toml").run()  # params, seed 20: a results file
    # a journal of l2_norm, stopped after a few cells
    write_plan(tmp_path, score_job("l2_norm"), "partial.toml")
    campaign(tmp_path, tmp_path / "partial.toml", budget=12, workers=1).run()
    plan = write_plan(tmp_path, done + score_job("params", "[20, 2020]") + score_job("l2_norm")
                      + score_job("relu"), "status.toml")
    rows = plan_status(load_plan(plan, base=tmp_path))
    assert [r.state for r in rows] == ["done", "partial", "partial", "missing"]
    assert (rows[0].done, rows[0].total, rows[0].cpu_hours_left) == (100, 100, 0.0)
    # seed 20 is in the results file and will be taken over: half of the cells are done
    assert (rows[1].done, rows[1].total, rows[1].cost_source) == (100, 200, "results")
    journal = results.checkpoint_paths(tmp_path / "res", "l2_norm", SPLIT)
    n_journaled = len(journal[0].read_text().splitlines()) - 1
    assert 3 <= rows[2].done == n_journaled < 100 and rows[2].cost_source == "journal"
    assert rows[2].state_files == [str(journal[0])]
    assert rows[3].cost_source == "unknown" and rows[3].cpu_hours_left is None
    # every cost was measured here, so the status borrows none from another machine
    assert rows[1].measured_on == rows[2].measured_on == [this_device()]
    assert rows[3].measured_on == []
    text = format_status(load_plan(plan, base=tmp_path), rows)
    assert "1 done, 2 partial, 1 missing" in text and "without a cost estimate" in text
    assert "another device" not in text


def _record(seconds: float, where: str | None, origin: str | None = None) -> Record:
    env = None if where is None else {"device_type": "cpu", "device_name": where,
                                      "capability": "AVX512", "flags_digest": "x",
                                      "torch": "2"}
    return Record(1, 20, 0.5, None, seconds, env=env, origin=origin)


def test_a_cost_measured_here_replaces_one_measured_on_another_cpu():
    """A journal's or a training log's measurements on this machine are its cost once there
    are three of them; before that, every measurement counts, and says where it came from."""
    other = [_record(10.0, "AMD EPYC") for _ in range(4)] + [_record(99.0, None, "stored result")]
    assert _journal_cost(other, "Intel Xeon") == (10.0, {"AMD EPYC"})
    two_here = other + [_record(16.0, "Intel Xeon"), _record(16.0, "Intel Xeon")]
    assert _journal_cost(two_here, "Intel Xeon") == (12.0, {"AMD EPYC", "Intel Xeon"})
    three_here = two_here + [_record(13.0, "Intel Xeon")]
    assert _journal_cost(three_here, "Intel Xeon") == (15.0, {"Intel Xeon"})
    assert _journal_cost([_record(1.0, None)] * 2, "Intel Xeon") is None  # too few to say
    log = [{"epoch": 1, "seconds": 30.0}, {"epoch": 2, "seconds": 34.0, "device_name": "AMD"}]
    assert _epoch_seconds(log, "Intel") == (32.0, {"unrecorded", "AMD"})
    log += [{"epoch": e, "seconds": 40.0 + e, "device_name": "Intel"} for e in (3, 4, 5)]
    assert _epoch_seconds(log, "Intel") == (44.0, {"Intel"})
    assert _epoch_seconds([{"epoch": 1}], "Intel") is None


def test_status_names_the_jobs_costed_on_another_device(tmp_path):
    plan = load_plan(write_plan(tmp_path, score_job("params")), base=tmp_path)

    def row(i: int, where: list[str], left: float = 10.0) -> JobStatus:
        return JobStatus(i, f"job {i}", "score", "partial", 100 - left, 100, "cells", 1.0,
                         "results", measured_on=where)

    rows = [row(1, ["AMD EPYC"]), row(2, ["AMD EPYC", "Intel"]), row(3, ["Intel"]),
            row(4, ["AMD EPYC"]), row(5, ["AMD EPYC"], left=0), row(6, ["unrecorded"])]
    text = format_status(plan, rows, here="Intel")
    assert text.splitlines()[-3:] == [
        "costs measured on another device, not on this one (Intel); read them as estimates:",
        "  jobs 1-2, 4: AMD EPYC",  # job 5 has nothing left to cost
        "  job 6: unrecorded"]
    assert "another device" not in format_status(plan, rows[2:3], here="Intel")


def test_a_finished_estimator_of_a_job_is_not_scored_again(tmp_path):
    write_plan(tmp_path, score_job("params"))
    campaign(tmp_path, tmp_path / "plan.toml").run()
    before = results.results_path(tmp_path / "res", "params", SPLIT).read_bytes()
    write_plan(tmp_path, score_job("params,relu"), "both.toml")
    report = campaign(tmp_path, tmp_path / "both.toml").run()
    assert len(report.finished) == 1
    assert results.results_path(tmp_path / "res", "params", SPLIT).read_bytes() == before
    assert results.results_path(tmp_path / "res", "relu", SPLIT).is_file()


def test_a_train_job_stops_between_steps_and_resumes_bit_for_bit(tmp_path, data_dir):
    spec = ('[[job]]\ntrain = { sampler = "deiso", epochs = 2, seed = 7, batch_size = 40, '
            'subset = 100, channels = 4, cells_per_stage = 1 }\n')
    plan_path = write_plan(tmp_path, spec)
    report = campaign(tmp_path, plan_path, budget=4).run()
    assert report.stopped_by == "budget"
    job = load_plan(plan_path, base=tmp_path).jobs[0]
    (st,) = plan_status(load_plan(plan_path, base=tmp_path))
    assert st.state == "partial" and 0 < st.done < 2 and st.unit == "epochs"
    assert checkpoints.step_checkpoint_path(tmp_path / "runs", job.config).is_file()
    report = campaign(tmp_path, plan_path).run()
    assert report.finished and plan_status(load_plan(plan_path, base=tmp_path))[0].state == "done"
    straight = tmp_path / "straight"
    train(job.config, cache_dir=straight, data_dir=data_dir, log=None)
    ca = checkpoints.load_checkpoint(checkpoints.checkpoint_path(tmp_path / "runs", job.config, 2))
    cb = checkpoints.load_checkpoint(checkpoints.checkpoint_path(straight, job.config, 2))
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), k


def test_a_second_campaign_on_the_same_results_is_refused(tmp_path):
    plan = write_plan(tmp_path, score_job("params"))
    loaded = load_plan(plan, base=tmp_path)
    with (CampaignLock(loaded.results_dir, plan),
          pytest.raises(CampaignError, match="another campaign is running.*kill -TERM")):
        campaign(tmp_path, plan).run()
    campaign(tmp_path, plan).run()  # released: runs


@pytest.mark.parametrize("body, message", [
    (score_job("params").replace("seeds", "seed"), "unknown field 'seed'; did you mean 'seeds'"),
    (score_job("parms"), "parms"),
    (score_job("params", split="nb201-c10-smok"), "nb201-c10-smok"),
    (score_job("params", seeds='"20"'), "seeds must be a non-empty list of integers"),
    (score_job("snip", split="nb201-c100"), "needs cifar100 images"),
    (score_job("params") + score_job("params"), "repeats job 1"),
    (score_job("params").replace("seeds = [20]", "seeds = [20]\noptions = { epoch = 3 }"),
     "unknown options key"),
    ('[[job]]\ntrain = { sampler = "fair", epochs = 2 }\n', "sampler must be one of"),
    ('[[job]]\ntrain = { sampler = "deiso", epoch = 2 }\n', "did you mean 'epochs'"),
    ("", "no [[job]] entries"),
    ("[[job]\n", "not valid TOML"),
])
def test_a_bad_plan_is_one_line_before_any_work(tmp_path, body, message):
    plan = write_plan(tmp_path, body)
    with pytest.raises(PlanError) as info:
        load_plan(plan, base=tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(plan) in str(info.value)
    assert not (tmp_path / "res").exists()


def test_budget_forms():
    assert parse_budget("2h30m") == 9000 and parse_budget("90m") == 5400
    assert parse_budget("45s") == 45 and parse_budget("1h") == 3600 and parse_budget("60") == 60
    for bad in ("", "2x", "h", "0", "-5m"):
        with pytest.raises(ValueError, match="--budget"):
            parse_budget(bad)


def test_a_train_jobs_eta_comes_from_its_epoch_time_not_its_lagging_progress():
    from harness.campaign.runner import eta_seconds

    train = JobStatus(1, "t", "train", "partial", 36.0, 60.0, "epochs", 280.0, "journal")
    assert eta_seconds(train, rate=0.1 / 60) == 24 * 280.0
    guess = dataclasses.replace(train, cost_source="other runs")
    assert eta_seconds(guess, rate=0.1 / 60) == pytest.approx(24 / (0.1 / 60))
    cells = JobStatus(2, "s", "score", "partial", 600, 1000, "cells", 40.0, "journal")
    assert eta_seconds(cells, rate=2 / 60) == pytest.approx(400 * 30)
    assert eta_seconds(cells, rate=0.0) == float("inf")


def test_the_board_plan_is_valid():
    plan = load_plan(REPO / "campaigns" / "board.toml", base=REPO)
    first = [j for j in plan.jobs if j.kind == "score"][:3]
    assert [j.split for j in first] == ["nb201-c10-1k", "nds-resnet-1k", "nds-resnexta-1k"]
    assert all(j.estimators == ("az_nas", "swap", "vkdnw", "vkdnw_agg") for j in first)


def test_every_board_scoring_of_trained_runs_finds_its_runs():
    """A score job that must not train (``train = "no"``) can only ever run if each of its
    seeds' supernets is committed or trained by a job it waits for."""
    plan = load_plan(REPO / "campaigns" / "board.toml", base=REPO)
    checked = 0
    for job in plan.jobs:
        if job.kind != "score" or job.options.get("train") != "no":
            continue
        # oneshot_uniform loads uniform runs; oneshot_deiso and oneshot_deiso_loss deiso ones
        (sampler,) = {"uniform" if e == "oneshot_uniform" else "deiso" for e in job.estimators}
        opts = OneShotOptions.parse(dict(job.options))
        trained = {find_job(plan, i).config.seed: find_job(plan, i).config
                   for i in job.after if find_job(plan, i).config.sampler == sampler}
        for seed in job.seeds:
            cfg = opts.train_config(sampler, seed, opts.epochs)
            committed = checkpoints.available_epochs(plan.train_dir, cfg)
            assert trained.get(seed) == cfg or opts.epochs in committed, (job.label, seed)
        checked += 1
    # the post-de-isomorphism arm of the one-shot study; the paper shape on nb201-c10-deiso
    assert checked >= 2


def test_the_command_line_runs_workers_and_prints_the_continue_command(tmp_path):
    plan = write_plan(tmp_path, score_job("params"))
    cmd = [sys.executable, "-m", "harness", "campaign"]
    out = subprocess.run(cmd + ["run", str(plan), "--budget", "10m", "--workers", "2",
                                "--results-dir", str(tmp_path / "res")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("continue with: python -m harness campaign run")
    assert results.results_path(tmp_path / "res", "params", SPLIT).is_file()
    status = subprocess.run(cmd + ["status", str(plan), "--json"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=600)
    assert status.returncode == 0, status.stderr  # nothing left
    assert json.loads(status.stdout)["jobs"][0]["state"] == "done"
    bad = subprocess.run(cmd + ["status", str(write_plan(tmp_path, score_job("parms"), "b.toml"))],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "parms" in bad.stderr


def test_tasks_on_a_dask_cluster_give_the_same_bytes(tmp_path):
    pytest.importorskip("distributed", reason="Dask is not installed; the executor is optional")
    from distributed import Client, LocalCluster

    from harness.campaign.dask_executor import DaskExecutor

    jobs = score_job("params,l2_norm")
    a, b = tmp_path / "a", tmp_path / "b"
    write_plan(a, jobs)
    write_plan(b, jobs)
    plan = load_plan(a / "plan.toml", base=a)
    # One in-process worker thread: seeded network builds use torch's global generator, which
    # two worker threads of one process would share (real workers are processes).
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        report = Campaign(plan, 1e9, workers=2, executor=DaskExecutor(plan, client),
                          write=lambda _s: None, sleep=lambda _s: None,
                          memory_mb=float("inf")).run()
    assert len(report.finished) == 1 and not report.failed
    campaign(b, b / "plan.toml", workers=1).run()
    for est in ("params", "l2_norm"):
        assert scores_bytes(a / "res", est) == scores_bytes(b / "res", est), est


def test_a_plan_seed_follows_the_run_rule(tmp_path):
    with pytest.raises(PlanError, match="seeds repeats 20"):
        load_plan(write_plan(tmp_path, score_job("params", "[20, 20]")), base=tmp_path)
    with pytest.raises(PlanError, match="seeds must lie in"):
        load_plan(write_plan(tmp_path, score_job("params", "[-1]"), "b.toml"), base=tmp_path)


def test_a_probe_measures_jobs_without_a_cost(tmp_path):
    spec = ('[[job]]\ntrain = { sampler = "deiso", epochs = 2, seed = 7, batch_size = 40, '
            'subset = 100, channels = 4, cells_per_stage = 1 }\n')
    plan = load_plan(write_plan(tmp_path, spec + score_job("relu")), base=tmp_path)
    plain = plan_status(plan)
    assert [r.cost_source for r in plain] == ["unknown", "unknown"]
    probed = plan_status(plan, probe=2)
    assert [r.cost_source for r in probed] == ["probe", "probe"]
    assert all(r.cpu_hours_left > 0 for r in probed)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "res").exists()  # nothing kept


def test_a_failed_task_fails_its_job_and_the_campaign_goes_on(tmp_path, monkeypatch):
    from harness.campaign import executors

    started = []
    real = executors.run_task

    def flaky(plan, task, stop, log=None):
        started.append(task)
        if task.job == 1:
            raise RuntimeError("broken on purpose")
        return real(plan, task, stop, log)

    monkeypatch.setattr(executors, "run_task", flaky)
    write_plan(tmp_path, score_job("params") + score_job("relu"))
    report = campaign(tmp_path, tmp_path / "plan.toml", workers=2).run()
    assert len(report.failed) == 1 and "broken on purpose" in next(iter(report.failed.values()))
    assert len(report.finished) == 1 and results.results_path(tmp_path / "res", "relu",
                                                               SPLIT).is_file()


def test_a_train_job_names_its_space(tmp_path):
    """NDS supernets are campaign train jobs like NAS-Bench-201's (``space`` and ``channels``
    are train keys); a sampler the space has no use for is refused with the job named."""
    plan = write_plan(tmp_path, '[[job]]\ntrain = { space = "nds_resnet", sampler = "uniform", '
                                'epochs = 2, channels = 2 }\n\n')
    (job,) = load_plan(plan, base=tmp_path).jobs
    assert job.config.space == "nds_resnet" and job.config.supernet.channels == 2
    bad = write_plan(tmp_path, '[[job]]\ntrain = { space = "nds_resnet", sampler = "deiso", '
                               'epochs = 2 }\n\n', "bad.toml")
    with pytest.raises(PlanError, match="job 1.*sampler='uniform'"):
        load_plan(bad, base=tmp_path)


def test_a_train_job_is_costed_from_runs_of_its_own_space_and_shape(tmp_path, data_dir):
    """A run's own log costs it; else a finished run of the same space and shape; a run of the
    same shape in another space (another network) says nothing."""
    shape = "epochs = 1, seed = 7, batch_size = 40, subset = 100, channels = 4, cells_per_stage = 1"
    done = write_plan(tmp_path, f'[[job]]\ntrain = {{ sampler = "uniform", {shape} }}\n\n')
    assert campaign(tmp_path, done).run().finished
    other = write_plan(tmp_path, f'[[job]]\ntrain = {{ sampler = "deiso", {shape} }}\n\n'
                                 f'[[job]]\ntrain = {{ space = "nb101", sampler = "uniform", '
                                 f'{shape} }}\n\n', "other.toml")
    same_space, nb101_job = plan_status(load_plan(other, base=tmp_path))
    assert same_space.cost_source == "other runs" and same_space.seconds_per_unit > 0
    assert nb101_job.cost_source == "unknown" and nb101_job.seconds_per_unit is None


def test_scoring_a_trained_run_elsewhere_is_costed_from_that_runs_own_results(tmp_path,
                                                                             monkeypatch):
    """The estimate from other splits prefers the results of the train jobs the score job
    waits for (the same supernet, whose shape sets the cost) over the board's results of the
    same estimator (other supernets), and those of the same benchmark over the rest."""
    from types import SimpleNamespace

    from harness.campaign import status

    def result(benchmark: str, seconds: float) -> SimpleNamespace:
        return SimpleNamespace(split=SimpleNamespace(benchmark=benchmark),
                               cost=SimpleNamespace(wall_s_per_arch_mean=seconds,
                                                    peak_rss_mb=seconds * 100),
                               environment=SimpleNamespace(device_name="cpu " + benchmark))

    shape = "epochs = 2, seed = 7, cells_per_stage = 1, channels = 4"
    plan = load_plan(write_plan(tmp_path, (
        f'[[job]]\ntrain = {{ sampler = "deiso", {shape} }}\n'
        f'score = {{ estimators = ["oneshot_deiso"], split = "{SPLIT}", results_dir = "study" }}'
        f'\n\n[[job]]\nestimators = ["oneshot_deiso"]\nsplit = "nb201-c10-deiso"\n'
        f'seeds = [7]\nresults_dir = "study"\n'
        f'options = {{ {shape.replace("seed = 7, ", "")}, train = "no" }}\n\n')),
        base=tmp_path)
    job = plan.jobs[1]
    assert job.after == (1,)
    board = {tmp_path / "res": [result("nb201", 0.1), result("nds_resnet", 0.3)]}
    monkeypatch.setattr(status, "_other_results", lambda d, _e, _s: board.get(Path(d), []))
    assert status._fallback_cost(plan, job, "oneshot_deiso", "nb201") == (
        0.1, 10.0, {"cpu nb201"})
    assert status._fallback_cost(plan, job, "oneshot_deiso", "nb101")[0] == pytest.approx(0.2)
    board[tmp_path / "study"] = [result("nb201", 0.5)]
    assert status._fallback_cost(plan, job, "oneshot_deiso", "nb201") == (
        0.5, 50.0, {"cpu nb201"})


def test_a_job_without_results_is_costed_from_its_standalone_costs(tmp_path, monkeypatch):
    """A committed ``harness cost`` measurement of the same estimator version, split file and
    protocol is the estimate before results on other splits; another batch size is not."""
    from harness import registry
    from harness.run import standalone
    from harness.splits import load_split

    monkeypatch.setattr(standalone, "COSTS_DIR", tmp_path / "costs")
    (est,) = registry.resolve("params")
    split = load_split(SPLIT)
    cost = standalone.StandaloneCost(
        estimator="params", estimator_version=str(est.info.version), split=SPLIT,
        split_sha256=split.sha256, arch_ids=[0], seed=20, batch_size=64, n_batches=1,
        threads=1, s_per_arch_median=2.5, s_per_arch_p90=3.0, peak_rss_mb=700.0,
        rss_before_mb=300.0, n_failed=0, environment={}, measured_at="2026-12-05T00:00:00")
    standalone.write(cost, tmp_path / "costs")
    plan = load_plan(write_plan(tmp_path, score_job("params")), base=tmp_path)
    (st,) = plan_status(plan)
    assert (st.cost_source, st.seconds_per_unit, st.peak_rss_mb) == ("standalone", 2.5, 700.0)
    assert st.cpu_hours_left == pytest.approx(100 * 2.5 / 3600)
    other = write_plan(tmp_path, score_job("params").replace(
        "seeds = [20]", "seeds = [20]\nbatch_size = 32"), "b.toml")
    (st,) = plan_status(load_plan(other, base=tmp_path))
    assert st.cost_source != "standalone"


def test_a_job_begun_with_other_shards_is_shared_by_every_worker(tmp_path, monkeypatch):
    """A job stopped with one shard per worker (0/2 done, 1/2 half done: its worker came free
    later) goes on as several small shards from one queue, so no worker runs on alone; they
    take over the journaled cells, and the merge gives the bytes of an unsharded run."""
    from harness.campaign import runner

    jobs = score_job("params,l2_norm")
    a, c = tmp_path / "a", tmp_path / "c"
    plan_a = write_plan(a, jobs)
    monkeypatch.setattr(runner, "SHARDS_PER_WORKER", 1)
    assert campaign(a, plan_a, budget=75).run().stopped_by == "budget"
    journals = results.checkpoint_paths(a / "res", "params", SPLIT)
    assert [p.name for p in journals] == [f".{SPLIT}.shard0of2.ckpt.jsonl",
                                          f".{SPLIT}.shard1of2.ckpt.jsonl"]

    monkeypatch.setattr(runner, "SHARDS_PER_WORKER", 4)
    status = plan_status(load_plan(plan_a, base=a))[0]
    assert [t.shard for t in runner.score_tasks(status, 2, 1e9)] == [(i, 8) for i in range(8)]
    assert [t.shard for t in runner.score_tasks(status, 1, 1e9)] == [(0, 1)]
    started = []
    resumed = campaign(a, plan_a, workers=2)
    start = resumed.executor.start
    resumed.executor.start = lambda task, deadline: (started.append(task.shard),
                                                     start(task, deadline))
    report = resumed.run()
    assert report.finished and not report.left
    assert started == [(i, 8) for i in range(8)]

    write_plan(c, jobs)
    campaign(c, c / "plan.toml", workers=1).run()
    for est in ("params", "l2_norm"):
        assert scores_bytes(a / "res", est) == scores_bytes(c / "res", est), est


class _KillFirstTry:
    """The inline executor, except that ``victim``'s first start ends at once as if the
    system had killed its worker (SIGKILL), while the runner counts other tasks as running.
    Records, per start, the task and the tasks the runner held as running beside it."""

    def __init__(self, inner, victim, killed_outcome: str) -> None:
        self.inner, self.victim, self.killed_outcome = inner, victim, killed_outcome
        self.live: set = set()
        self.starts: list = []
        self.kills = 0

    def start(self, task, deadline):
        self.starts.append((task, frozenset(self.live)))
        self.live.add(task)
        if task == self.victim and self.kills == 0:
            self.kills += 1
            self.inner.ended[task] = self.killed_outcome
            return
        self.inner.start(task, deadline)

    def poll(self):
        ended = self.inner.poll()
        self.live -= set(ended)
        return ended

    def stop(self, hard=False):
        self.inner.stop(hard)

    @property
    def running(self):
        return 0


def test_a_task_killed_for_memory_beside_others_runs_again_alone(tmp_path):
    """A shard whose worker the system killed (SIGKILL: out of memory) while another shard ran
    is retried once, with nothing beside it, and the job ends with the bytes of a plain run;
    a task killed while alone, or killed twice, fails its job as any error does."""
    from harness.campaign.tasks import KILLED, Task

    a, b = tmp_path / "a", tmp_path / "b"
    write_plan(a, score_job("params,l2_norm"))
    run = campaign(a, a / "plan.toml", workers=2)
    victim = Task(1, (1, 8))
    run.executor = fake = _KillFirstTry(run.executor, victim, f"{KILLED} (log: x)")
    report = run.run()
    assert report.finished and not report.failed and fake.kills == 1
    tries = [(i, beside) for i, (task, beside) in enumerate(fake.starts) if task == victim]
    assert len(tries) == 2 and tries[0][1]  # first beside another shard, then ...
    (i, beside), = tries[1:]
    assert not beside  # ... alone,
    assert all(victim not in others for _, others in fake.starts[i + 1:])  # nothing beside it
    write_plan(b, score_job("params,l2_norm"))
    campaign(b, b / "plan.toml", workers=1).run()
    for est in ("params", "l2_norm"):
        assert scores_bytes(a / "res", est) == scores_bytes(b / "res", est), est

    c = tmp_path / "c"
    write_plan(c, score_job("params"))
    alone = campaign(c, c / "plan.toml", workers=1)
    alone.executor = _KillFirstTry(alone.executor, Task(1, (0, 1)), f"{KILLED} (log: x)")
    report = alone.run()
    assert not report.finished and KILLED in next(iter(report.failed.values()))


def test_a_worker_killed_by_the_system_is_reported_as_killed(tmp_path):
    """A worker process that dies of a SIGKILL the runner did not send (the out-of-memory
    killer's signal) is reported with :data:`KILLED`, which makes the runner retry it alone;
    one the runner hard-stopped itself is not."""
    import signal as _signal
    import time as _time

    from harness.campaign.executors import LocalExecutor
    from harness.campaign.tasks import KILLED, Task, was_killed

    write_plan(tmp_path, score_job("params"))
    plan = load_plan(tmp_path / "plan.toml", base=tmp_path)
    for hard_stop in (False, True):
        ex = LocalExecutor(plan)
        task = Task(1, (0, 1))
        ex.start(task, _time.time() + 600)
        if hard_stop:
            ex.stop(hard=True)
        else:
            ex.workers[task].send_signal(_signal.SIGKILL)
        ended: dict = {}
        for _ in range(600):
            ended = ex.poll()
            if ended:
                break
            _time.sleep(0.1)
        (outcome,) = ended.values()
        assert was_killed(outcome) is not hard_stop, outcome
        assert outcome.startswith(KILLED) is not hard_stop
