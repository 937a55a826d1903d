"""The submission job takes only a pull request's top-level estimator files (issue #40, 7)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness import submission
from harness.submission import Change, classify, parse_name_status

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def write(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def pr_repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository whose branch ``pr`` adds a good estimator and tries everything else."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.org")
    git(repo, "config", "user.name", "t")
    write(repo, "estimators/params.py", "# params\n")
    write(repo, "estimators/old_name.py", "# to be renamed\n")
    write(repo, "harness/run.py", "# trusted\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "pr")
    write(repo, "estimators/my_proxy.py", "# new estimator\n")
    write(repo, "estimators/params.py", "# params, improved\n")
    write(repo, "estimators/sub/evil.py", "# nested\n")
    write(repo, "estimators/Bad-Name.py", "# bad name\n")
    write(repo, "estimators/_helpers.py", "# private\n")
    write(repo, "estimators/notes.txt", "text\n")
    write(repo, "harness/run.py", "# changed by the pull request\n")
    git(repo, "mv", "estimators/old_name.py", "estimators/new_name.py")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pr")
    return repo, base, git(repo, "rev-parse", "HEAD").strip()


def test_only_top_level_estimator_files_are_scored(pr_repo):
    repo, base, head = pr_repo
    files = classify(submission.changed_files(repo, base, head))
    assert files.scored == ["my_proxy", "new_name", "params"]
    reasons = dict(files.not_used)
    assert set(reasons) == {"estimators/sub/evil.py", "estimators/Bad-Name.py",
                            "estimators/_helpers.py", "estimators/notes.txt",
                            "harness/run.py", "estimators/old_name.py"}
    assert "outside `estimators/`" in reasons["harness/run.py"]
    assert "nested" in reasons["estimators/sub/evil.py"]
    assert "deleted" in reasons["estimators/old_name.py"]
    assert "lower_snake_case" in reasons["estimators/Bad-Name.py"]


def test_cli_copies_the_scored_files_and_reports_the_rest(pr_repo, tmp_path, capsys):
    repo, base, head = pr_repo
    dest = tmp_path / "base-estimators"
    dest.mkdir()
    (dest / "params.py").write_text("# base version\n")
    out_file = tmp_path / "github-output"
    rc = submission.main(["--repo", str(repo), "--base", base, "--head", head,
                          "--copy-to", str(dest), "--github-output", str(out_file)])
    assert rc == 0
    assert sorted(p.name for p in dest.iterdir()) == ["my_proxy.py", "new_name.py", "params.py"]
    assert (dest / "params.py").read_text() == "# params, improved\n"
    assert out_file.read_text() == "names=my_proxy,new_name,params\n"
    report = capsys.readouterr().out
    assert "`harness/run.py`" in report and "Not used by this job" in report


def test_nothing_to_score_and_a_bad_revision(pr_repo, capsys):
    repo, base, _ = pr_repo
    assert classify([Change("M", "README.md")]).scored == []
    assert "nothing to score" in classify([]).markdown()
    assert submission.main(["--repo", str(repo), "--base", base, "--head", "no-such-ref"]) == 2
    assert "git diff" in capsys.readouterr().err


def test_name_status_parsing_with_renames_and_copies():
    text = "A\0estimators/a.py\0R097\0estimators/b.py\0estimators/c.py\0C100\0x.py\0y.py\0"
    assert parse_name_status(text) == [
        Change("A", "estimators/a.py"), Change("D", "estimators/b.py"),
        Change("R", "estimators/c.py"), Change("C", "y.py")]


def test_file_names_cannot_break_the_report_table():
    files = classify([Change("A", "docs/a|b`c.md")])
    assert "| `docs/a\\|b'c.md` |" in files.markdown()
