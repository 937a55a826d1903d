"""Rewriting results files of an older schema in the current one, without re-scoring.

Schema 1 → 2: the numeric environment becomes a structure (it was a formatted string), every
failure carries its kind (it was told apart by message prefix; this is the one place that still
reads such messages, and only in schema-1 files), estimators list their components, and a
missing ``protocol.weights`` means random initialisation. Scores and metrics are not touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import results
from harness.run.environment import NumericEnvironment


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


def upgrade_dir(results_dir: str | Path, data_dir: str | None = None) -> Iterator[str]:
    """Upgrade every results file under ``results_dir`` in place (atomically); one line each.

    ``data_dir`` is reserved for fields that need ground truth (none in schema 2).
    """
    for path in sorted(Path(results_dir).glob("*/*.json")):
        obj = json.loads(path.read_text())
        version = obj.get("schema_version")
        if version == results.SCHEMA_VERSION:
            yield f"{path}: current"
            continue
        if version != 1:
            yield f"{path}: schema_version {version!r} unknown, left alone"
            continue
        results.write_json(path, upgrade_v1(obj))
        yield f"{path}: upgraded 1 -> {results.SCHEMA_VERSION}"
