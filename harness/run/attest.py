"""Recording that today's estimator code still gives a result's stored scores.

A result records the fingerprint of the code that scored it (``estimator.code_sha256``), and
the site marks it when the estimator's code has changed since. A refactor or a speed-up that
keeps the bits should not leave that mark forever, and must not clear it by assertion either:
``python -m harness reproduce --record`` re-scores cells of the result (see
:mod:`harness.run.reproduce`) and, where that shows equal bits, adds a
:class:`~harness.results.Reproduced` entry for today's code fingerprint to the results file.

Two kinds of evidence count:

* **the stored scores themselves**: the re-scored cells come back bit for bit (on a machine of
  the kind that stored them, or by luck elsewhere);
* **the code that scored it, run beside today's** (``--baseline REV``): where the scores were
  stored on another CPU kind, bits cannot be compared with them. Then the version of
  ``estimators/<name>.py`` at commit ``REV`` -- which must have the fingerprint the result
  records -- re-scores the same cells on this machine, with today's harness, in a scratch copy
  of the tree; equal digests (:meth:`~harness.run.reproduce.Reproduction.digest`) show that
  the change of the estimator's code did not change a bit.

Nothing is recorded for a result whose code has not changed, for one that does not record the
code that scored it, for one already recorded, or where the bits differ (then the change
needs a new version and a re-score).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from harness import data, registry, results, trust
from harness.run.environment import current_environment
from harness.run.finalize import code_sha256
from harness.run.reproduce import SAME_BITS, WITHIN_TOLERANCE, Reproduction

#: The checkout whose harness, estimators and history a baseline run uses.
REPO_ROOT = Path(__file__).resolve().parents[2]
_DIGEST = re.compile(r"re-scored ([0-9a-f]{12})")


class AttestError(RuntimeError):
    """A reproduction that cannot be recorded; one line for the user."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def estimator_source_at(rev: str, name: str, repo: Path = REPO_ROOT) -> str:
    """The text of ``estimators/<name>.py`` at commit ``rev``.

    Raises:
        AttestError: when git cannot show it.
    """
    try:
        done = subprocess.run(["git", "-C", str(repo), "show", f"{rev}:estimators/{name}.py"],
                              capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AttestError(f"git could not be run: {exc}") from None
    if done.returncode != 0:
        raise AttestError(f"estimators/{name}.py at {rev}: "
                          f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode()


def baseline_digest(path: Path, rev: str, *, n_cells: int, data_dir: str | None,
                    repo: Path = REPO_ROOT) -> str:
    """The digest of the cells that :func:`~harness.run.reproduce.reproduce_result` re-scores
    for the results file ``path``, computed by the estimator's file at commit ``rev`` (the code
    that scored the result) with today's harness, in a scratch copy of the tree.

    Raises:
        AttestError: the result records no code fingerprint; ``rev``'s file is not the code
            that scored it; or the baseline run gave no digest (its output is quoted).
        harness.data.DataError: no usable data directory.
    """
    res = results.load_result(path)
    name = res.estimator.name
    if not res.estimator.code_sha256:
        raise AttestError(f"{path} does not record the fingerprint of the code that scored it, "
                          "so no earlier version can be shown to be that code")
    old = estimator_source_at(rev, name, repo)
    try:
        old_fp = trust.code_sha256_of_text(old)
    except (SyntaxError, ValueError) as exc:
        raise AttestError(f"estimators/{name}.py at {rev} cannot be read: {exc}") from None
    if old_fp != res.estimator.code_sha256:
        raise AttestError(
            f"estimators/{name}.py at {rev} is not the code that scored {path} (its code "
            f"fingerprint is {old_fp[:12]}, the result records "
            f"{res.estimator.code_sha256[:12]}); name a commit where the file had that code")
    with tempfile.TemporaryDirectory(prefix="estbench-baseline-") as tmp:
        root = Path(tmp)
        skip = shutil.ignore_patterns("__pycache__", "*.pyc")
        for part in ("harness", "estimators"):
            shutil.copytree(repo / part, root / part, ignore=skip)
        (root / "estimators" / f"{name}.py").write_text(old)
        # The scratch catalog vouches for the old file, as the catalog of its day did, so it
        # is imported like any trusted estimator (not in the sandbox of untrusted files).
        catalog = json.loads((repo / "leaderboard" / "catalog.json").read_text())
        catalog["estimators"].setdefault(name, {})["source_sha256"] = trust.source_sha256(
            root / "estimators" / f"{name}.py")
        (root / "leaderboard").mkdir()
        (root / "leaderboard" / "catalog.json").write_text(json.dumps(catalog))
        cmd = [sys.executable, "-m", "harness", "reproduce", "--results-dir",
               str(Path(path).resolve().parent.parent), "--estimator", name,
               "--split", res.split.name, "--cells", str(n_cells)]
        # Absolute: a relative ESTBENCH_DATA would be read against the scratch tree.
        cmd += ["--data-dir", str(data.resolve_data_dir(data_dir))]
        env = {**os.environ, "PYTHONPATH": str(root)}
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True,
                              check=False)
    out = done.stdout + done.stderr
    m = _DIGEST.search(out)
    if m is None:
        tail = " | ".join(out.strip().splitlines()[-3:])
        raise AttestError(f"the baseline run ({name} at {rev}) gave no digest: {tail}")
    return m.group(1)


def record(path: Path, rep: Reproduction, *, baseline: str | None = None,
           data_dir: str | None = None, repo: Path = REPO_ROOT) -> str:
    """Add a :class:`~harness.results.Reproduced` entry to the results file ``path`` where
    ``rep`` (a reproduction of it with today's code) or a baseline run shows equal bits; a
    line saying what was done or why nothing was.

    Raises:
        AttestError: from :func:`baseline_digest`.
    """
    res = results.load_result(path)
    registry.discover()  # the estimator's code as it is now, whoever called first
    est = registry.ESTIMATORS.find(res.estimator.name)
    now_fp = code_sha256(est) if est is not None else None
    where = f"{res.estimator.name} on {res.split.name}"
    if now_fp is None:
        return f"{where}: not recorded (no readable source for the estimator)"
    if not res.estimator.code_sha256:
        return (f"{where}: nothing to record (the result does not record the code that scored "
                "it, so no change of code can be shown or marked)")
    if now_fp == res.estimator.code_sha256:
        return f"{where}: nothing to record (its code has not changed since it was scored)"
    if any(r.code_sha256 == now_fp for r in res.estimator.reproduced):
        return f"{where}: already recorded for this code"
    n = len(rep.cells)
    if rep.verdict == SAME_BITS:
        evidence = f"re-scored {n} cells: the stored scores, bit for bit"
    elif rep.verdict == WITHIN_TOLERANCE and baseline is not None:
        old = baseline_digest(path, baseline, n_cells=n, data_dir=data_dir, repo=repo)
        if old != rep.digest():
            return (f"{where}: NOT recorded: the code that scored it (at {baseline}) gives "
                    f"digest {old}, today's {rep.digest()}: the change altered the bits, so it "
                    "needs a new version and a re-score")
        evidence = (f"re-scored {n} cells with the code that scored it (estimators/"
                    f"{res.estimator.name}.py at {baseline}) and with this code, on one "
                    f"machine: equal bits (digest {old})")
    elif rep.verdict == WITHIN_TOLERANCE:
        return (f"{where}: not recorded: stored on another CPU kind, so its bits prove "
                "nothing; name the commit that scored it with --baseline REV")
    else:
        return f"{where}: not recorded ({rep.verdict}: {rep.reason})"
    device = current_environment(res.cost.device).device_name
    entry = results.Reproduced(now_fp, n, evidence, device, _now())
    meta = replace(res.estimator, reproduced=[*res.estimator.reproduced, entry])
    results.write_result(path, replace(res, estimator=meta))
    return f"{where}: recorded for code {now_fp[:12]} ({evidence})"


__all__ = ["AttestError", "baseline_digest", "estimator_source_at", "record"]
