"""Which files of a pull request the submission job may score, and nothing else.

A submission is one new or changed file ``estimators/<name>.py``. The submission workflow
(``.github/workflows/submission.yml``) checks out the *base* branch, whose harness it trusts,
and the pull request beside it; this module reads the pull request's changes and copies only
the estimator files into the base checkout. Everything else the pull request touches (the
harness, tests, workflows, nested files under ``estimators/``, deletions) is listed in the
job's summary as not used, so that a reviewer sees it and the scores never depend on it.

Run as ``python -m harness.submission --repo PR_CHECKOUT --base SHA --head SHA
[--copy-to estimators] [--github-output FILE]``: it prints a Markdown report (for the job's
step summary) and writes ``names=a,b`` for the scoring step. Standard library only, so it runs
before anything is installed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from harness.registration import NAME_RE

ESTIMATOR_DIR = "estimators"


@dataclass(frozen=True)
class Change:
    """One path of ``git diff --name-status``: ``status`` is A, M, D, T, C or R."""

    status: str
    path: str


@dataclass
class SubmissionFiles:
    """A pull request's changes, sorted into what is scored and what is not.

    Attributes:
        scored: estimator names whose files (``estimators/<name>.py``) are added or changed.
        not_used: ``(path, reason)`` for every other change; none of them reaches the run.
    """

    scored: list[str] = field(default_factory=list)
    not_used: list[tuple[str, str]] = field(default_factory=list)

    def markdown(self) -> str:
        """The report for the job's step summary."""
        lines = ["### Files of this pull request", ""]
        if self.scored:
            lines.append("Scored with the base branch's harness: "
                         + ", ".join(f"`{ESTIMATOR_DIR}/{n}.py`" for n in self.scored) + ".")
        else:
            lines.append("No estimator file (`estimators/<name>.py`) added or changed: "
                         "nothing to score.")
        if self.not_used:
            lines += ["", "**Not used by this job** (a maintainer reviews these by hand):", "",
                      "| file | why |", "|---|---|"]
            lines += [f"| `{_md_cell(p)}` | {r} |" for p, r in self.not_used]
        return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    # File names come from the pull request: keep them inside their table cell and code span.
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")


def classify(changes: list[Change]) -> SubmissionFiles:
    """Sort ``changes`` into scored estimator files and everything else, with reasons."""
    out = SubmissionFiles()
    for ch in changes:
        path = PurePosixPath(ch.path)
        parts = path.parts
        if not parts or parts[0] != ESTIMATOR_DIR:
            out.not_used.append((ch.path, "outside `estimators/`: the base branch's code runs"))
        elif len(parts) != 2:
            out.not_used.append((ch.path, "nested under `estimators/`: a submission is one "
                                          "top-level file"))
        elif path.suffix != ".py":
            out.not_used.append((ch.path, "not a Python file"))
        elif ch.status == "D":
            out.not_used.append((ch.path, "deleted: removing an estimator is a maintainer's "
                                          "decision"))
        elif path.stem.startswith("_"):
            out.not_used.append((ch.path, "a private module, not an estimator"))
        elif not NAME_RE.match(path.stem):
            out.not_used.append((ch.path, "estimator files are named "
                                          "`estimators/<lower_snake_case>.py`"))
        elif path.stem not in out.scored:
            out.scored.append(path.stem)
    out.scored.sort()
    return out


def parse_name_status(text: str) -> list[Change]:
    """``git diff --name-status -z`` output as changes; a rename or copy gives its new path
    (status R or C) and, for a rename, the old path as deleted."""
    fields = text.split("\0")
    changes: list[Change] = []
    i = 0
    while i < len(fields):
        status = fields[i]
        if not status:
            i += 1
            continue
        kind = status[0]
        if kind in "RC":
            old, new = fields[i + 1], fields[i + 2]
            if kind == "R":
                changes.append(Change("D", old))
            changes.append(Change(kind, new))
            i += 3
        else:
            changes.append(Change(kind, fields[i + 1]))
            i += 2
    return changes


def changed_files(repo: Path, base: str, head: str) -> list[Change]:
    """The changes of ``head`` since its merge base with ``base`` in the git checkout ``repo``."""
    proc = subprocess.run(
        ["git", "-C", str(repo), "diff", "--name-status", "-z", "-M", f"{base}...{head}"],
        capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git diff {base}...{head} in {repo} failed: {proc.stderr.strip()}")
    return parse_name_status(proc.stdout)


def copy_estimators(files: SubmissionFiles, repo: Path, dest: Path) -> list[Path]:
    """Copy the scored estimator files from the pull request's checkout into ``dest``."""
    copied = []
    for name in files.scored:
        src = repo / ESTIMATOR_DIR / f"{name}.py"
        if src.is_symlink() or not src.is_file():
            raise RuntimeError(f"{src} is not a regular file in the pull request's checkout")
        target = dest / f"{name}.py"
        shutil.copyfile(src, target)
        copied.append(target)
    return copied


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.submission", description=__doc__)
    ap.add_argument("--repo", required=True, type=Path, help="the pull request's checkout")
    ap.add_argument("--base", required=True, help="the base commit (or ref)")
    ap.add_argument("--head", required=True, help="the pull request's head commit (or ref)")
    ap.add_argument("--copy-to", type=Path, default=None,
                    help="copy the scored files into this directory (the base checkout's "
                         "estimators/)")
    ap.add_argument("--github-output", type=Path, default=None,
                    help="append names=a,b to this file (GitHub's $GITHUB_OUTPUT)")
    args = ap.parse_args(argv)
    try:
        files = classify(changed_files(args.repo, args.base, args.head))
        if args.copy_to is not None:
            copy_estimators(files, args.repo, args.copy_to)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.github_output is not None:
        with args.github_output.open("a", encoding="utf-8") as fh:
            fh.write(f"names={','.join(files.scored)}\n")
    sys.stdout.write(files.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
