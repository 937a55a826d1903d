"""The pytest plugin, driven through pytester in subprocesses (a fresh pytest each)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import harness
from harness import results

pytest_plugins = ["pytester"]

HARNESS = str(Path(harness.__file__).parent)
SMOKE = "nb201-c10-smoke"


@pytest.fixture
def env(tmp_path_factory, data_dir, monkeypatch):
    cache = tmp_path_factory.getbasetemp() / "estbench-cache"
    monkeypatch.setenv("ESTBENCH_CACHE", str(cache))
    monkeypatch.setenv("ESTBENCH_DATA", data_dir)
    return cache


def _run(pytester, *args):
    return pytester.runpytest_subprocess(HARNESS, "-p", "no:cacheprovider", *args)


def test_options_show_defaults_in_help(pytester, env):
    res = _run(pytester, "--help")
    out = res.stdout.str()
    for opt in ("--estimator", "--split", "--seeds", "--batches", "--batch-size", "--device",
                "--data-dir", "--results-dir", "--resume", "--no-resume", "--arch-timeout"):
        assert opt in out
    assert "20,2020,202020" in out and "nb201-c10-1k" in out


def test_unknown_estimator_is_a_usage_error_with_suggestions(pytester, env):
    res = _run(pytester, "--estimator=synflw", "--split", SMOKE)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "Did you mean 'synflow'" in res.stderr.str()


def test_weights_must_name_a_one_shot_estimator(pytester, env):
    res = _run(pytester, "--estimator=params", "--split", SMOKE, "--weights=synflow")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "oneshot_deiso" in res.stderr.str()


def test_unknown_split_is_a_usage_error_with_suggestions(pytester, env):
    res = _run(pytester, "--estimator=params", "--split=nb201-c10-smok")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "nb201-c10-smoke" in res.stderr.str()


def test_missing_data_is_a_usage_error(pytester, env, monkeypatch, tmp_path):
    monkeypatch.delenv("ESTBENCH_DATA")
    res = _run(pytester, "--estimator=params", f"--split={SMOKE}")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "ESTBENCH_DATA" in res.stderr.str()


def test_a_corrupt_data_file_is_one_line_not_a_traceback(pytester, env, monkeypatch, tmp_path,
                                                          data_dir):
    import shutil

    bad = tmp_path / "data"
    shutil.copytree(data_dir, bad, ignore=shutil.ignore_patterns("cifar10"))
    table = bad / "nasbench201" / "nb201_accuracies.csv"
    table.write_bytes(table.read_bytes()[:-100])  # truncated, as by a broken download
    monkeypatch.setenv("ESTBENCH_DATA", str(bad))
    res = _run(pytester, "--estimator=params", f"--split={SMOKE}")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    err = res.stderr.str()
    assert "nb201_accuracies.csv" in err and "Traceback" not in err + res.stdout.str()
    assert len([line for line in err.splitlines() if line.strip()]) <= 2


def test_merge_help_documents_every_option():
    from harness.run.config import options_for

    proc = subprocess.run([sys.executable, "-m", "harness", "merge", "--help"],
                          capture_output=True, text=True, check=True)
    for opt in options_for("merge"):
        assert f"--{opt.name}" in proc.stdout
    # every option line carries a help text (argparse prints the flag alone otherwise)
    assert "--shards SHARDS" in proc.stdout and "how many shards" in proc.stdout
    assert "--estimator-option KEY=VALUE" in proc.stdout and "repeatable" in proc.stdout


def test_harness_without_estimator_explains_itself(pytester, env):
    res = _run(pytester)
    assert res.ret != 0
    assert "--estimator" in res.stdout.str() + res.stderr.str()


def test_end_to_end_ids_results_and_summary(pytester, env, tmp_path):
    out_dir = tmp_path / "res"
    res = _run(pytester, "--estimator=params,random", f"--split={SMOKE}", "--seeds=20,2020",
               f"--results-dir={out_dir}", "-v")
    res.assert_outcomes(passed=2)
    text = res.stdout.str()
    assert "test_estimator[params-nb201-c10-smoke]" in text
    assert "test_estimator[random-nb201-c10-smoke]" in text
    assert "estbench results" in text and "Kendall" in text
    for name in ("params", "random"):
        obj = results.load_json(results.results_path(out_dir, name, SMOKE))
        assert obj["protocol"]["seeds"] == [20, 2020]
        assert set(obj["metrics"]["per_seed"]) == {"20", "2020"}


def test_a_shard_run_does_not_show_an_older_results_file_as_its_own(pytester, env, tmp_path):
    out_dir = tmp_path / "res"
    _run(pytester, "--estimator=params", f"--split={SMOKE}", "--seeds=20",
         f"--results-dir={out_dir}").assert_outcomes(passed=1)
    res = _run(pytester, "--estimator=params", f"--split={SMOKE}", "--seeds=20,2020",
               "--shard=0/2", f"--results-dir={out_dir}")
    res.assert_outcomes(passed=1)
    text = res.stdout.str()
    assert "estbench results" not in text and "Kendall" not in text
    assert "shard 0/2 scored" in text and "python -m harness merge" in text
    assert "--seeds=20,2020 " in text and f"--results-dir={out_dir}" in text


def test_estimator_without_the_harness_path_is_a_usage_error(pytester, env):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "harness.plugin",
                                        "--estimator=params")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "pytest harness/ --estimator" in res.stderr.str()


def test_unknown_estimator_option_names_the_valid_keys(pytester, env):
    res = _run(pytester, "--estimator=oneshot_deiso", f"--split={SMOKE}",
               "--estimator-option", "epoch=200")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    err = res.stderr.str()
    assert "unknown --estimator-option key(s) epoch" in err and "checkpoint_epoch" in err
    res = _run(pytester, "--estimator=params", f"--split={SMOKE}",
               "--estimator-option", "epochs=2")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "takes no options" in res.stderr.str() or "valid keys: none" in res.stderr.str()


def test_progress_is_shown_while_scoring_and_local_runs_stay_out_of_the_tree(
        pytester, env, tmp_path, monkeypatch):
    """Progress lines reach the terminal past pytest's capture, and without --results-dir
    the results go to the user's data directory, not the tracked leaderboard/results."""
    monkeypatch.delenv("ESTBENCH_RESULTS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    res = _run(pytester, "--estimator=params", f"--split={SMOKE}", "--seeds=20")
    res.assert_outcomes(passed=1)
    text = res.stdout.str()
    assert "[estbench] params on nb201-c10-smoke: 0/100 (arch, seed)" in text
    assert "100/100 (arch, seed) (100 %)" in text and "ETA done" in text
    where = tmp_path / "xdg" / "estbench" / "results"
    assert results.results_path(where, "params", SMOKE).is_file()
    assert f"results in {where}" in text and "python -m leaderboard preview" in text


def test_a_rerun_with_other_settings_stops_instead_of_overwriting(pytester, env, tmp_path):
    out_dir = tmp_path / "res"
    _run(pytester, "--estimator=params", f"--split={SMOKE}", "--seeds=20", "--shard=0/2",
         f"--results-dir={out_dir}").assert_outcomes(passed=1)
    ck = results.checkpoint_path(out_dir, "params", SMOKE, "0/2")
    before = ck.read_bytes()
    res = _run(pytester, "--estimator=params", f"--split={SMOKE}", "--seeds=20", "--shard=0/2",
               "--batch-size=32", f"--results-dir={out_dir}")
    assert res.ret != 0 and ck.read_bytes() == before
    assert "batch_size: checkpoint 64, this run 32" in res.stdout.str()
    assert "--no-resume" in res.stdout.str()


def test_image_free_split_skips_image_estimators(pytester, env, tmp_path):
    # nb201-in16 has ground truth but no images: params runs, an image estimator would skip.
    res = _run(pytester, "--estimator=random", "--split=nb201-in16", "--seeds=20",
               f"--results-dir={tmp_path}", "--collect-only", "-q")
    assert res.ret == 0


#: A pytest plugin for the run under test: SIGKILL the process right after its N-th journaled
#: record, so the kill lands at the same point on any machine (no polling, no timing race).
KILL_AFTER_PLUGIN = """
import os, signal
from harness.run import journal

_add, _n = journal.Checkpoint.add, [0]


def add(self, rec):
    _add(self, rec)
    _n[0] += 1
    if _n[0] == int(os.environ["ESTBENCH_TEST_KILL_AFTER"]):
        os.kill(os.getpid(), signal.SIGKILL)


journal.Checkpoint.add = add
"""


def test_killed_run_resumes_with_only_the_remainder(env, tmp_path, data_dir):
    """Kill a run mid-way (SIGKILL), re-run: finished architectures are not recomputed and the
    results equal those of an uninterrupted run apart from timing fields."""
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "pytest", HARNESS, "-p", "no:cacheprovider", "-q",
           "--estimator=params", f"--split={SMOKE}", "--seeds=20,2020,202020",
           f"--results-dir={out}"]
    ck = results.checkpoint_path(out, "params", SMOKE)
    (tmp_path / "estbench_kill_after.py").write_text(KILL_AFTER_PLUGIN)
    killed_env = {**os.environ, "ESTBENCH_TEST_KILL_AFTER": "60",
                  "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd + ["-p", "estbench_kill_after"], cwd=tmp_path, env=killed_env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    lines_before = ck.read_text().splitlines()
    n_before = len(lines_before) - 1
    assert n_before == 60, "the run is killed right after its 60th record"
    full = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert full.returncode == 0, full.stdout + full.stderr
    lines_after = ck.read_text().splitlines()
    # The records written before the kill survive unchanged (same wall times: not recomputed).
    kept = [x for x in lines_before[1:] if x.endswith("}")]
    assert lines_after[1 : 1 + len(kept)] == kept
    assert lines_after[-1] == '{"finalized": true}'  # the trailer of a finalized run
    assert len(lines_after) - 2 == 300
    resumed = results.load_json(results.results_path(out, "params", SMOKE))
    clean_dir = tmp_path / "clean"
    clean = subprocess.run(cmd[:-1] + [f"--results-dir={clean_dir}"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert clean.returncode == 0
    ref = results.load_json(results.results_path(clean_dir, "params", SMOKE))
    for obj in (resumed, ref):
        obj.pop("cost")
        obj.pop("environment")
    assert resumed == ref
    assert results.read_scores(results.scores_path(out, "params", SMOKE)) == \
        results.read_scores(results.scores_path(clean_dir, "params", SMOKE))
