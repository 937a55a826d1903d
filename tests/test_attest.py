"""``python -m harness reproduce --record``: a change of code that keeps the bits, proved and
recorded in the results file, so the site stops marking the code as changed."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from harness import results
from harness.run import attest
from harness.run import reproduce as R
from harness.trust import code_sha256_of_text
from leaderboard import collect
from leaderboard.demo import DEMO_SPLIT

ROOT = Path(__file__).resolve().parent.parent
PARAMS = (ROOT / "estimators" / "params.py").read_text()
RETURN = "    return float(sum(p.numel() for p in net.parameters() if p.requires_grad))\n"
#: Other code, same bits: what a refactor looks like.
REFACTORED = PARAMS.replace(RETURN, "    n = sum(p.numel() for p in net.parameters() if "
                                   "p.requires_grad)\n    return float(n)\n")
#: Other code, other bits: what needed a new version.
CHANGED = PARAMS.replace(RETURN, RETURN.replace("))\n", ")) + 1.0\n"))


@pytest.fixture
def demo(demo_results) -> Path:
    """Demo results (random, params) scored here, so in this numeric environment."""
    return demo_results


def scored_by(demo: Path, tmp_path: Path, source: str) -> Path:
    """A copy of the demo ``params`` result that says it was scored by ``source``."""
    shutil.copytree(demo / "params", tmp_path / "results" / "params")
    path = tmp_path / "results" / "params" / f"{DEMO_SPLIT}.json"
    res = results.load_result(path)
    meta = replace(res.estimator, code_sha256=code_sha256_of_text(source))
    results.write_result(path, replace(res, estimator=meta))
    return path


def git_checkout_with(tmp_path: Path, *versions: str) -> tuple[Path, list[str]]:
    """A git repository with today's harness and catalog, committing ``estimators/params.py``
    in each of ``versions`` in turn; it and the commits."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "harness", repo / "harness",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (repo / "estimators").mkdir()
    (repo / "estimators" / "__init__.py").write_text("")
    (repo / "leaderboard").mkdir()
    shutil.copy(ROOT / "leaderboard" / "catalog.json", repo / "leaderboard" / "catalog.json")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    commits = []
    for text in versions:
        (repo / "estimators" / "params.py").write_text(text)
        git("add", "-A")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v")
        commits.append(git("rev-parse", "HEAD"))
    return repo, commits


def test_bits_that_come_back_are_recorded_once(demo, tmp_path, data_dir):
    path = scored_by(demo, tmp_path, REFACTORED)
    rep = R.reproduce_result(path, data_dir=data_dir)
    assert rep.verdict == R.SAME_BITS
    line = attest.record(path, rep)
    assert "recorded for code" in line and "the stored scores, bit for bit" in line
    (entry,) = results.load_result(path).estimator.reproduced
    assert entry.code_sha256 == code_sha256_of_text(PARAMS) and entry.cells == 3
    assert "already recorded" in attest.record(path, rep)


def test_unchanged_or_unrecorded_code_has_nothing_to_record(demo, tmp_path, data_dir):
    path = scored_by(demo, tmp_path, PARAMS)
    rep = R.reproduce_result(path, data_dir=data_dir)
    assert "has not changed" in attest.record(path, rep)
    res = results.load_result(path)
    results.write_result(path, replace(res, estimator=replace(res.estimator, code_sha256=None)))
    assert "does not record the code" in attest.record(path, rep)
    assert results.load_result(path).estimator.reproduced == []


def test_tolerance_alone_is_not_evidence(demo, tmp_path, data_dir):
    """Scores from another CPU kind come back within a tolerance, which cannot tell a refactor
    from a change of the last bits: without a baseline nothing is recorded."""
    path = scored_by(demo, tmp_path, REFACTORED)
    rep = replace(R.reproduce_result(path, data_dir=data_dir), verdict=R.WITHIN_TOLERANCE)
    assert "--baseline" in attest.record(path, rep)
    different = replace(rep, verdict=R.DIFFERENT, reason="beyond the tolerance")
    assert "not recorded (DIFFERENT" in attest.record(path, different)
    assert results.load_result(path).estimator.reproduced == []


def test_the_code_that_scored_it_gives_the_evidence_on_this_machine(demo, tmp_path, data_dir):
    """--baseline: the old file re-scores the same cells in a scratch tree; equal digests are
    recorded, different ones are not, and a commit whose file is not the code that scored the
    result is refused."""
    repo, (refactored, changed) = git_checkout_with(tmp_path, REFACTORED, CHANGED)
    path = scored_by(demo, tmp_path, REFACTORED)
    rep = replace(R.reproduce_result(path, data_dir=data_dir), verdict=R.WITHIN_TOLERANCE)

    with pytest.raises(attest.AttestError, match="is not the code that scored"):
        attest.record(path, rep, baseline=changed, data_dir=data_dir, repo=repo)
    line = attest.record(path, rep, baseline=refactored, data_dir=data_dir, repo=repo)
    assert f"params.py at {refactored}" in line and f"digest {rep.digest()}" in line
    (entry,) = results.load_result(path).estimator.reproduced
    assert f"at {refactored}" in entry.evidence

    other = tmp_path / "other"
    other.mkdir()
    path = scored_by(demo, other, CHANGED)
    rep = replace(R.reproduce_result(path, data_dir=data_dir), verdict=R.WITHIN_TOLERANCE)
    line = attest.record(path, rep, baseline=changed, data_dir=data_dir, repo=repo)
    assert "NOT recorded" in line and "altered the bits" in line
    assert results.load_result(path).estimator.reproduced == []


def test_the_site_shows_a_recorded_change_as_such(demo, tmp_path, data_dir):
    path = scored_by(demo, tmp_path, REFACTORED)

    def loaded() -> collect.Result:
        coll = collect.collect(path.parent.parent, use_registry=False)
        return coll.results[("params", DEMO_SPLIT)]

    assert collect.source_changed(loaded()) and collect.reproduced_now(loaded()) is None
    attest.record(path, R.reproduce_result(path, data_dir=data_dir))
    assert not collect.source_changed(loaded())
    assert collect.reproduced_now(loaded())["evidence"].startswith("re-scored 3 cells")


def test_schema_5_files_read_with_no_record(demo, tmp_path):
    shutil.copytree(demo / "params", tmp_path / "params")
    path = tmp_path / "params" / f"{DEMO_SPLIT}.json"
    obj = json.loads(path.read_text())
    obj["schema_version"] = 5
    del obj["estimator"]["reproduced"]
    assert results.ResultFile.from_dict(obj).estimator.reproduced == []
    assert results.upgrade_v5(obj)["estimator"]["reproduced"] == []
