"""Train jobs that score each checkpoint as it is saved and keep only the latest one.

The curve of such a job must be the curve of the same run scored with every checkpoint kept;
removed checkpoints are recorded; stops anywhere resume; the plan refuses what cannot work.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from harness import results
from harness.campaign import Campaign, PlanError, load_plan, plan_status
from harness.campaign.cli import main as campaign_cli
from harness.campaign.train_task import run_train_job, scoring_config
from harness.oneshot import checkpoints
from harness.oneshot.__main__ import main as oneshot_cli
from harness.oneshot.training import train
from harness.registry import resolve
from harness.run.pipeline import run_session
from harness.run.session import Session

SPLIT = "nb201-c10-smoke"
RUN = ('train = { sampler = "uniform", epochs = 3, seed = 7, batch_size = 40, subset = 100, '
       'channels = 4, cells_per_stage = 1 }\nsave_every = 1\n')
SCORE = ('score = { estimators = ["oneshot_uniform"], split = "nb201-c10-smoke", '
         'options = { eval_batches = 1, eval_batch_size = 32 } }\n')


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def plan_file(folder: Path, body: str, name: str = "plan.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text('[campaign]\nname = "t"\nresults_dir = "res"\ntrain_dir = "runs"\n\n'
                    "[[job]]\n" + body)
    return path


def run_campaign(folder: Path, plan: Path, budget: float = 1e9):
    return Campaign(load_plan(plan, base=folder), budget, workers=1, executor="inline",
                    clock=FakeClock(), write=lambda _s: None).run()


def curve_of(results_dir: Path) -> list[tuple[int, float]]:
    res = results.load_result(results.results_path(results_dir, "oneshot_uniform", SPLIT))
    return [(p.checkpoint, p.kendall) for p in res.curve.points]


@pytest.fixture(scope="module")
def kept_everything(tmp_path_factory, data_dir) -> list[tuple[int, float]]:
    """The reference: the same run trained with every checkpoint kept, scored with --curve,
    on one thread as campaign workers train (the thread count changes training's bits)."""
    folder = tmp_path_factory.mktemp("kept")
    job = load_plan(plan_file(folder, RUN + SCORE), base=folder).jobs[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(job.config, cache_dir=folder / "runs", data_dir=data_dir, save_epochs=[1, 2, 3],
              log=None)
        cfg = scoring_config(job, load_plan(folder / "plan.toml", base=folder))
        run_session(Session.create(resolve("oneshot_uniform"), SPLIT, cfg))
    finally:
        torch.set_num_threads(threads)
    return curve_of(folder / "res")


def test_scored_as_saved_gives_the_curve_of_kept_checkpoints(tmp_path, kept_everything):
    plan = plan_file(tmp_path, RUN + SCORE + 'keep = "latest"\n')
    report = run_campaign(tmp_path, plan)
    assert report.finished and not report.failed
    job = load_plan(plan, base=tmp_path).jobs[0]
    root = tmp_path / "runs"
    assert checkpoints.available_epochs(root, job.config) == [3]
    removed = checkpoints.removed_checkpoints(root, job.config)
    assert sorted(removed) == [1, 2]
    assert all(len(r["sha256"]) == 64 and r["bytes"] > 0 for r in removed.values())
    assert curve_of(tmp_path / "res") == kept_everything
    res = results.load_result(results.results_path(tmp_path / "res", "oneshot_uniform", SPLIT))
    sources = {p.checkpoint: p.scores_from for p in res.curve.points}
    assert "removed" in sources[1] and "removed" in sources[2] and sources[3] == "this run"
    assert [s.state for s in plan_status(load_plan(plan, base=tmp_path))] == ["done"]
    assert run_campaign(tmp_path, plan).finished == []  # nothing left to do


def test_each_scored_checkpoint_logs_its_scoring_time(tmp_path):
    """The log says how long a checkpoint's scoring took: what a later scoring of the same
    supernet on another split will cost."""
    plan = plan_file(tmp_path, RUN + SCORE + 'keep = "latest"\n')
    loaded = load_plan(plan, base=tmp_path)
    said: list[str] = []
    threads = torch.get_num_threads()
    try:
        assert run_train_job(loaded.jobs[0], loaded, stop=lambda: False, say=said.append)
    finally:
        torch.set_num_threads(threads)  # a worker's one thread must not leak to other tests
    scored = [m for m in said if "into the curve store" in m]
    assert len(scored) == 2  # checkpoints 1 and 2; the last one is scored with the results
    assert all(re.search(r"\(100 cells in \d+ s, \d+\.\d{3} s/cell\)$", m) for m in scored)


def test_stops_anywhere_resume_to_the_same_curve(tmp_path, kept_everything):
    plan = plan_file(tmp_path, RUN + SCORE + 'keep = "latest"\n')
    for budget in (5, 40, 130, 160, 200):  # stops in training and in scoring
        run_campaign(tmp_path, plan, budget=budget)
    run_campaign(tmp_path, plan)
    assert curve_of(tmp_path / "res") == kept_everything


def test_a_trained_job_without_results_is_partial(tmp_path):
    plan = plan_file(tmp_path, RUN + SCORE)
    run_campaign(tmp_path, plan)
    path = results.results_path(tmp_path / "res", "oneshot_uniform", SPLIT)
    job = load_plan(plan, base=tmp_path).jobs[0]
    assert checkpoints.available_epochs(tmp_path / "runs", job.config) == [1, 2, 3]  # keep all
    path.unlink()
    assert plan_status(load_plan(plan, base=tmp_path))[0].state == "partial"
    run_campaign(tmp_path, plan)
    assert path.is_file()


def test_a_removed_checkpoint_reads_its_scores_from_another_machine(tmp_path,
                                                                   kept_everything):
    plan = plan_file(tmp_path, RUN + SCORE + 'keep = "latest"\n')
    run_campaign(tmp_path, plan)
    store = tmp_path / "runs" / "curves" / "oneshot_uniform" / SPLIT
    moved = 0
    for path in sorted(store.glob("*.json")):
        obj = json.loads(path.read_text())
        if obj["identity"]["prepared"]["epoch"] == 1:
            obj["environment"]["device_name"] = "Other CPU"
            path.unlink()
            (store / "elsewhere.json").write_text(json.dumps(obj))
            moved += 1
    assert moved == 1
    results.results_path(tmp_path / "res", "oneshot_uniform", SPLIT).unlink()
    run_campaign(tmp_path, plan)
    res = results.load_result(results.results_path(tmp_path / "res", "oneshot_uniform", SPLIT))
    point = next(p for p in res.curve.points if p.checkpoint == 1)
    assert "made on Other CPU" in point.scores_from
    assert curve_of(tmp_path / "res") == kept_everything


def test_a_removed_checkpoint_without_stored_scores_is_named_not_invented(tmp_path):
    plan = plan_file(tmp_path, RUN + SCORE + 'keep = "latest"\n')
    run_campaign(tmp_path, plan)
    job = load_plan(plan, base=tmp_path).jobs[0]
    # Another evaluation protocol: nothing is stored for the removed checkpoints 1 and 2.
    cfg = scoring_config(job, load_plan(plan, base=tmp_path))
    cfg = type(cfg)(**{**cfg.__dict__, "options": {**cfg.options, "eval_batch_size": 16},
                       "results_dir": tmp_path / "other"})
    run_session(Session.create(resolve("oneshot_uniform"), SPLIT, cfg))
    res = results.load_result(results.results_path(tmp_path / "other", "oneshot_uniform",
                                                   SPLIT))
    assert [p.checkpoint for p in res.curve.points] == [3]
    assert "not on the curve: 1 (seed 7), 2 (seed 7)" in res.curve.note
    assert checkpoints.available_epochs(tmp_path / "runs", job.config) == [3]


def test_a_study_arm_writes_its_own_results_beside_the_boards(tmp_path):
    """Another seed of the same protocol, given its own ``results_dir``, writes its results
    there: the board's result of the first run is neither replaced nor refused, and each job
    is done by its own file."""
    arm = RUN.replace("seed = 7", "seed = 8")
    plan = plan_file(tmp_path, RUN + SCORE + 'keep = "latest"\n\n[[job]]\n' + arm
                     + SCORE.replace("options", 'results_dir = "study/seed8", options')
                     + 'keep = "latest"\n')
    board = results.results_path(tmp_path / "res", "oneshot_uniform", SPLIT)
    study = results.results_path(tmp_path / "study" / "seed8", "oneshot_uniform", SPLIT)
    report = run_campaign(tmp_path, plan)
    assert len(report.finished) == 2 and not report.failed
    assert results.load_result(board).protocol.seeds == [7]
    got = results.load_result(study)
    assert got.protocol.seeds == [8] and [p.checkpoint for p in got.curve.points] == [1, 2, 3]
    assert [s.state for s in plan_status(load_plan(plan, base=tmp_path))] == ["done", "done"]
    study.unlink()
    assert [s.state for s in plan_status(load_plan(plan, base=tmp_path))] == ["done",
                                                                              "partial"]


@pytest.mark.parametrize("body, message", [
    (RUN + SCORE + "\n[[job]]\n" + RUN.replace("seed = 7", "seed = 8") + SCORE,
     "jobs 1 and 2 both write oneshot_uniform on nb201-c10-smoke into"),
    (RUN + SCORE.replace("options", "results_dir = 3, options"), "results_dir must be a path"),
    (RUN + 'keep = "latest"\n', "needs score"),
    (RUN + 'keep = "some"\n', "keep must be one of"),
    (RUN + SCORE.replace("oneshot_uniform", "params"), "params is not a one-shot estimator"),
    (RUN + SCORE.replace('split = "nb201-c10-smoke"', 'split = "nds-resnet-1k"'),
     "nds_resnet split, the run trains a nb201 supernet"),
    (RUN + SCORE.replace("eval_batches = 1", "channels = 8"),
     "'channels' is not an evaluation option"),
    (RUN.replace("seed = 7", "seed = 7, lr = 0.1") + SCORE, "none selects this run's lr"),
    (RUN + SCORE.replace("split", "splt"), "unknown field 'splt'"),
])
def test_the_plan_refuses_scoring_that_cannot_work(tmp_path, body, message):
    with pytest.raises(PlanError, match=message):
        load_plan(plan_file(tmp_path, body), base=tmp_path)


#: A score job that loads job RUN's supernet (its options select that run) and scores it
#: post-de-isomorphism into a directory of its own: an arm of the study that needs no training.
POST = ('name = "post"\nestimators = ["oneshot_uniform"]\nsplit = "nb201-c10-smoke"\n'
        'seeds = [7]\nresults_dir = "study/post"\n'
        'options = { epochs = 3, batch_size = 40, subset = 100, channels = 4, '
        'cells_per_stage = 1, eval_batches = 1, eval_batch_size = 32, train = "no", '
        'post_deiso = true }\n')


def test_a_score_job_waits_for_the_train_job_whose_run_it_loads(tmp_path):
    """Listed first, the post-de-isomorphism job still runs after the training it scores (it
    would fail on the missing supernet otherwise); a stop before that leaves it untouched and
    says why; its results go to its own directory, beside the board's."""
    plan = plan_file(tmp_path, POST + "\n[[job]]\n" + RUN + SCORE + 'keep = "latest"\n')
    loaded = load_plan(plan, base=tmp_path)
    assert loaded.jobs[0].after == (2,)
    assert loaded.results_dir_of(loaded.jobs[0]) == tmp_path / "study" / "post"
    assert plan_status(loaded)[0].waits_for == [2]
    said: list[str] = []
    Campaign(loaded, 5, workers=1, executor="inline", clock=FakeClock(),
             write=said.append).run()
    assert any("job 1 waits for job(s) 2" in line for line in said)
    assert not (tmp_path / "study").exists()
    report = run_campaign(tmp_path, plan)
    assert not report.failed and report.finished == [loaded.jobs[1].label,  # trained first
                                                     "post: oneshot_uniform on nb201-c10-smoke"]
    post = results.load_result(results.results_path(tmp_path / "study" / "post",
                                                    "oneshot_uniform", SPLIT))
    board = results.load_result(results.results_path(tmp_path / "res", "oneshot_uniform",
                                                     SPLIT))
    assert post.prepared["7"]["iso_eval"] == "mean"
    assert board.prepared["7"]["iso_eval"] == "self"
    assert post.prepared["7"]["config_hash"] == board.prepared["7"]["config_hash"]
    assert not list((tmp_path / "study" / "post").rglob(".*.ckpt.jsonl"))  # journals merged
    rows = plan_status(load_plan(plan, base=tmp_path))
    assert [(r.state, r.waits_for) for r in rows] == [("done", []), ("done", [])]


def test_a_score_job_of_zero_shot_estimators_waits_for_nothing(tmp_path):
    body = ('estimators = ["params"]\nsplit = "nb201-c10-smoke"\nseeds = [7]\n'
            'results_dir = "elsewhere"\n\n[[job]]\n' + RUN)
    job = load_plan(plan_file(tmp_path, body), base=tmp_path).jobs[0]
    assert job.after == () and job.results_dir == tmp_path / "elsewhere"
    with pytest.raises(PlanError, match="results_dir must be a path"):
        load_plan(plan_file(tmp_path, body.replace('"elsewhere"', "4")), base=tmp_path)


#: Eight steps per epoch (the smoke split's training half in batches of 10), so that a budget
#: can stop a run mid-epoch.
RUN_STEPS = RUN.replace("batch_size = 40", "batch_size = 10")


def run_files(root: Path, job) -> list[str]:
    return sorted(p.name for p in checkpoints.run_dir(root, job.config).iterdir())


def test_a_stopped_run_keeps_one_resume_point_and_a_copy_of_its_state_resumes(tmp_path,
                                                                                 capsys):
    """Stopped mid-epoch after a scored checkpoint, the run keeps ``step.pt`` alone (the
    checkpoint is recorded as removed); a copy of what ``campaign state`` lists, with the curve
    store, resumes on another folder to the curve of an uninterrupted run."""
    body = RUN_STEPS + SCORE + 'keep = "latest"\n'
    whole = tmp_path / "whole"
    run_campaign(whole, plan_file(whole, body))

    stopped = tmp_path / "stopped"
    plan = plan_file(stopped, body)
    run_campaign(stopped, plan, budget=114)  # in epoch 2, after checkpoint 1 was scored
    job = load_plan(plan, base=stopped).jobs[0]
    root = stopped / "runs"
    assert run_files(root, job) == ["config.json", "removed.json", "step.pt"]
    assert "step.pt (epoch 1.375) is the resume point" in \
        checkpoints.removed_checkpoints(root, job.config)[1]["reason"]
    (st,) = plan_status(load_plan(plan, base=stopped))
    assert st.state == "partial" and st.done == 1.375
    assert oneshot_cli(["list", "--cache-dir", str(root)]) == 0
    assert "checkpoints=[] step.pt=1.375" in capsys.readouterr().out
    assert [Path(f).name for f in st.state_files] == ["config.json", "removed.json", "step.pt"]

    copy = tmp_path / "copy"
    plan_file(copy, body)
    for f in st.state_files:
        dest = copy / Path(f).relative_to(stopped)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    shutil.copytree(root / "curves", copy / "runs" / "curves")
    report = run_campaign(copy, copy / "plan.toml")
    assert report.finished and not report.failed
    assert curve_of(copy / "res") == curve_of(whole / "res")
    final = [checkpoints.load_checkpoint(checkpoints.checkpoint_path(d / "runs", job.config, 3))
             for d in (copy, whole)]
    for name, tensor in final[0]["model"].items():
        assert torch.equal(tensor, final[1]["model"][name]), name


def test_a_stop_while_scoring_leaves_no_scored_checkpoint_behind(tmp_path):
    plan = plan_file(tmp_path, RUN_STEPS + SCORE + 'keep = "latest"\n')
    run_campaign(tmp_path, plan, budget=122)  # checkpoint 2 saved, its scoring stopped
    job = load_plan(plan, base=tmp_path).jobs[0]
    assert checkpoints.available_epochs(tmp_path / "runs", job.config) == [2]
    assert sorted(checkpoints.removed_checkpoints(tmp_path / "runs", job.config)) == [1]
    (st,) = plan_status(load_plan(plan, base=tmp_path))
    assert [Path(f).name for f in st.state_files] == ["config.json", "removed.json",
                                                      "epoch_2.pt"]


def test_training_refuses_to_start_over_when_the_resume_point_is_missing(tmp_path, data_dir):
    plan = plan_file(tmp_path, RUN_STEPS + SCORE + 'keep = "latest"\n')
    run_campaign(tmp_path, plan, budget=114)
    job = load_plan(plan, base=tmp_path).jobs[0]
    checkpoints.step_checkpoint_path(tmp_path / "runs", job.config).unlink()
    with pytest.raises(FileNotFoundError, match=r"reached epoch 1 .*restore the run's files"):
        train(job.config, cache_dir=tmp_path / "runs", data_dir=data_dir, until_epoch=2,
              log=None)
    assert run_files(tmp_path / "runs", job) == ["config.json", "removed.json"]


def test_a_removed_checkpoint_that_a_later_file_supersedes_can_be_trained_again(tmp_path,
                                                                                  data_dir):
    """The refusal is for lost progress only: epoch 1 of a finished run (removed, epoch 3 on
    disk) is a deliberate retrain from scratch."""
    plan = plan_file(tmp_path, RUN + SCORE + 'keep = "latest"\n')
    run_campaign(tmp_path, plan)
    job = load_plan(plan, base=tmp_path).jobs[0]
    root = tmp_path / "runs"
    assert checkpoints.available_epochs(root, job.config) == [3]
    res = train(job.config, cache_dir=root, data_dir=data_dir, until_epoch=1, log=None)
    assert res.resumed_from == 0
    assert checkpoints.available_epochs(root, job.config) == [1, 3]


def test_campaign_state_lists_a_finished_runs_weights_once(tmp_path, data_dir, monkeypatch,
                                                          capsys):
    plan = plan_file(tmp_path, RUN + SCORE + 'keep = "latest"\n')
    run_campaign(tmp_path, plan)
    (st,) = plan_status(load_plan(plan, base=tmp_path))
    assert st.state == "done" and st.state_files == []
    assert [Path(f).name for f in st.kept_files] == ["config.json", "removed.json", "epoch_3.pt"]
    # The command line prints each file once, tab-separated for `cut -f1 | xargs git add -f`.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ESTBENCH_DATA", str(data_dir))  # a relative path would move too
    assert campaign_cli(["state", str(plan)]) == 0
    out, err = capsys.readouterr()
    rows = [line.split("\t") for line in out.splitlines()]
    assert [Path(f).name for f, _, _ in rows] == ["config.json", "removed.json", "epoch_3.pt"]
    assert all(where == "job 1, finished" for _, _, where in rows)
    total = sum(Path(f).stat().st_size for f, _, _ in rows)
    assert f"0.00 MB of resumable state and {total / 1e6:.2f} MB of finished" in err
