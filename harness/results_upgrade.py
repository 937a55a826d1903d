"""Rewriting results files of an older schema in the current one, without re-scoring.

Schema 5 → 6: the estimator gains ``reproduced``, the evidence that later versions of its code
give the stored scores (:class:`harness.results.Reproduced`, written by
``python -m harness reproduce --record``); an upgraded file starts with none.

Schema 4 → 5: the estimator records the fingerprint of its code (``estimator.code_sha256``,
:func:`harness.trust.code_sha256`), so the site can tell a later documentation edit from a
change of code. An upgraded file gains it where the git history of ``estimators/<name>.py``
holds a version whose bytes have the recorded ``source_sha256``: the fingerprint is that
version's (:func:`code_sha256_from_history`). Nothing is guessed: otherwise it stays null.

Schema 3 → 4: the protocol stores the run's :class:`~harness.scoring_key.ScoringKey`, built
from the fields that held the same facts (:func:`harness.results.upgrade_v3`, which reading a
schema-3 file also applies in memory).

Schema 2 → 3: the file records the SHA-256 of its scores file (``scores_sha256``), read from
the scores file beside it (a file whose scores file is missing cannot be upgraded), and of the
estimator's source file when it was scored (``estimator.source_sha256``; unknown, so null, for
upgraded files).

Schema 1 → 2: the numeric environment becomes a structure (it was a formatted string), every
failure carries its kind (it was told apart by message prefix; this is the one place that still
reads such messages, and only in schema-1 files), estimators list their components, and a
missing ``protocol.weights`` means random initialisation. Scores are never touched.

Metrics added since a file was written (nDCG in either gain, the bootstrap intervals and
samples) are computed from its committed scores file and the split's ground truth
(``--data-dir``), exactly as finalize computes them; every metric the file already holds must
come out equal (bit for bit for rank-based ones), or the file is left alone and the mismatch
reported. Stored values, the bootstrap included, are kept as they are.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness import metrics, results, schema, trust
from harness.run.environment import NumericEnvironment
from harness.run.finalize import seed_metrics
from harness.splits import load_split


def _env(key: str | None) -> dict | None:
    if key in (None, "unrecorded"):
        return None
    return NumericEnvironment.from_legacy_key(key).to_dict()


def _kind(message: str) -> str:
    if message.startswith(("returned", "mean over")):
        return "value"
    return "timeout" if message.startswith("timeout") else "raised"


def upgrade_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """The schema-2 form of a schema-1 results object."""
    out = json.loads(json.dumps(obj))
    out["schema_version"] = 2
    out["estimator"].setdefault("components", [])
    out["protocol"].setdefault("weights", {"source": "init"})
    out["protocol"]["weights"].setdefault("per_seed", None)
    for err in out.get("errors", []):
        err.setdefault("kind", _kind(err.get("message", "")))
    det = out.get("determinism")
    if det is not None:
        envs = det.get("environments") or {}
        if isinstance(envs, dict):
            det["environments"] = [{"environment": _env(k), "n_scores": n}
                                   for k, n in sorted(envs.items(), key=lambda kv: -kv[1])]
        det.setdefault("problems", [])
        for c in det.get("cross_environment", []):
            c["recorded_env"] = _env(c.get("recorded_env"))
            c["rescored_env"] = _env(c.get("rescored_env"))
    out.setdefault("determinism", None)
    out["cost"].setdefault("training", None)
    out["metrics"].setdefault("bootstrap", None)
    return out


def upgrade_v2(obj: dict[str, Any], results_path: Path) -> dict[str, Any]:
    """The schema-3 form of a schema-2 results object at ``results_path``.

    Raises:
        FileNotFoundError: the scores file it names is not beside it.
    """
    out = json.loads(json.dumps(obj))
    out["schema_version"] = 3
    out["scores_sha256"] = results.file_sha256(results_path.with_name(out["scores_file"]))
    # The estimator file may have changed since the file was scored: its hash is unknown.
    out["estimator"].setdefault("source_sha256", None)
    return out


def refresh_metrics(obj: dict[str, Any], scores_file: Path,
                    data_dir: str | None) -> tuple[dict[str, Any], str | None]:
    """``obj`` with its metrics recomputed from ``scores_file``; ``(obj, problem)`` where
    ``problem`` names a stored metric that the recomputation does not reproduce exactly."""

    if obj["metrics"] is None:
        return obj, None
    split = load_split(obj["split"]["name"])
    if split.sha256 != obj["split"]["sha256"]:
        return obj, "the split file changed since this result was scored"
    by_key = {(a, s): v for a, s, v in results.read_scores(scores_file)}
    per_seed = {}
    for seed in obj["protocol"]["seeds"]:
        vals = [by_key.get((a, seed)) for a in split.arch_ids]
        if any(v is None for v in vals):
            return obj, f"seed {seed}: the scores file lacks finite scores"
        per_seed[seed] = np.array(vals, dtype=np.float64)
    fresh = seed_metrics(per_seed, split.ground_truth(data_dir))
    old = obj["metrics"]
    new = schema.dump(fresh)

    def check(where: str, stored: dict, again: dict) -> str | None:
        for k, v in stored.items():
            w = again.get(k)
            # Rank-based metrics reproduce exactly; float sums (Pearson) may differ in the last
            # bit on another CPU kind (numpy picks SIMD kernels per instruction set).
            if (v is None) != (w is None) or (v is not None and not math.isclose(
                    v, w, rel_tol=1e-12, abs_tol=1e-15)):
                return f"metrics.{where}.{k}: stored {v!r}, recomputed {w!r}"
        return None

    problem = check("mean", old["mean"], new["mean"]) or check("std", old["std"], new["std"])
    for seed, m in old["per_seed"].items():
        problem = problem or check(f"per_seed.{seed}", m, new["per_seed"][seed])
    if problem:
        return obj, problem
    # Stored values stay as they are; only what the file lacks is added.
    merged = {
        "per_seed": {s: {**new["per_seed"][s], **m} for s, m in old["per_seed"].items()},
        "mean": {**new["mean"], **old["mean"]}, "std": {**new["std"], **old["std"]},
        "bootstrap": old.get("bootstrap") or new["bootstrap"]}
    return {**obj, "metrics": merged}, None


def lacks_metrics(obj: dict[str, Any]) -> bool:
    """Whether a results object lacks a metric that finalize computes today (the bootstrap, or
    a criterion added since, such as the exponential-gain nDCG)."""
    m = obj.get("metrics")
    if m is None:
        return False
    if m.get("bootstrap") is None:
        return True
    expected = set(metrics.all_metrics(np.arange(3.0), np.arange(1.0, 4.0)))
    if not any(k.startswith("ndcg") for k in m["mean"]):  # negative truth: no nDCG at all
        expected = {k for k in expected if not k.startswith("ndcg")}
    return bool(expected - set(m["mean"]))


#: The checkout whose history holds the estimators' earlier versions.
REPO_ROOT = Path(__file__).resolve().parents[1]


class SourceHistory:
    """The versions of ``estimators/<name>.py`` in a git checkout's history, by SHA-256 of
    their bytes (read once per estimator; an empty history outside a git checkout)."""

    def __init__(self, repo: Path = REPO_ROOT):
        self.repo = Path(repo)
        self._by_name: dict[str, dict[str, tuple[str, bytes]]] = {}

    def _git(self, *args: str) -> bytes | None:
        try:
            done = subprocess.run(["git", "-C", str(self.repo), *args], capture_output=True,
                                  check=False, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    def versions(self, name: str) -> dict[str, tuple[str, bytes]]:
        """SHA-256 of the bytes -> (commit, bytes) for every committed version of the file."""
        if name not in self._by_name:
            rel = f"estimators/{name}.py"
            found: dict[str, tuple[str, bytes]] = {}
            log = self._git("log", "--all", "--format=%H", "--", rel) or b""
            for commit in log.decode().split():
                text = self._git("show", f"{commit}:{rel}")
                if text is not None:
                    found.setdefault(hashlib.sha256(text).hexdigest(), (commit, text))
            self._by_name[name] = found
        return self._by_name[name]

    def first_commit_where(self, path: Path, match: Callable[[bytes], bool]) -> str | None:
        """The oldest commit whose version of ``path`` (a file of this checkout) satisfies
        ``match`` (``None``: no such commit). Used to find when a measurement was committed
        first, whatever later commits added to the file."""
        rel = str(Path(path).resolve().relative_to(self.repo.resolve()))
        log = self._git("log", "--reverse", "--format=%H", "--", rel) or b""
        for commit in log.decode().split():
            text = self._git("show", f"{commit}:{rel}")
            if text is not None and match(text):
                return commit
        return None

    def estimator_at(self, commit: str, name: str) -> str | None:
        """The text of ``estimators/<name>.py`` at ``commit`` (``None``: not there)."""
        text = self._git("show", f"{commit}:estimators/{name}.py")
        try:
            return None if text is None else text.decode()
        except UnicodeDecodeError:
            return None


def code_sha256_from_history(name: str, source_sha256: str,
                             history: SourceHistory) -> tuple[str, str] | None:
    """``(code fingerprint, commit)`` of the committed version of ``estimators/<name>.py``
    whose bytes hash to ``source_sha256``; ``None`` when the history has no such version."""
    hit = history.versions(name).get(source_sha256)
    if hit is None:
        return None
    commit, text = hit
    try:
        return trust.code_sha256_of_text(text.decode()), commit
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return None


def upgrade_dir(results_dir: str | Path, data_dir: str | None = None,
                history: SourceHistory | None = None) -> Iterator[str]:
    """Upgrade every results file under ``results_dir`` in place (atomically); one line each.

    With ``data_dir``, metrics that a current result carries but the file lacks (nDCG,
    bootstrap) are added from its scores file (see :func:`refresh_metrics`). A file that
    records its estimator's source but not the code's fingerprint gains it from ``history``
    (default: this checkout's git history) where that holds the source.
    """
    history = history if history is not None else SourceHistory()
    for path in sorted(Path(results_dir).glob("*/*.json")):
        obj = json.loads(path.read_text())
        version = obj.get("schema_version")
        if version not in (1, 2, 3, 4, 5, results.SCHEMA_VERSION):
            yield f"{path}: schema_version {version!r} unknown, left alone"
            continue
        new = upgrade_v1(obj) if version == 1 else obj
        if version in (1, 2):
            try:
                new = upgrade_v2(new, path)
            except OSError as exc:
                yield f"{path}: NOT upgraded (its scores file cannot be read: {exc})"
                continue
        if version in (1, 2, 3):
            new = results.upgrade_v3(new)
        if version in (1, 2, 3, 4):
            new = results.upgrade_v4(new)
        if version in (1, 2, 3, 4, 5):
            new = results.upgrade_v5(new)
        said = (f"upgraded {version} -> {results.SCHEMA_VERSION}"
                if version != results.SCHEMA_VERSION else "current")
        est = new["estimator"]
        if est.get("source_sha256") and not est.get("code_sha256"):
            hit = code_sha256_from_history(est["name"], est["source_sha256"], history)
            if hit is not None:
                new = {**new, "estimator": {**est, "code_sha256": hit[0]}}
                said += f"; code fingerprint recorded from its source at commit {hit[1][:12]}"
        if data_dir is not None and lacks_metrics(new):
            new, problem = refresh_metrics(new, path.with_name(new["scores_file"]), data_dir)
            if problem:
                yield f"{path}: NOT refreshed ({problem})"
                continue
            said += "; new metrics added from the scores file (stored ones reproduced)"
        if new != obj:
            results.write_json(path, new)
        yield f"{path}: {said}"
