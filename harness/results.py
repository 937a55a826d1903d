"""Results files: one JSON per (estimator, split), plus a compressed per-architecture scores file.

Layout under the results directory (default ``leaderboard/results``)::

    <estimator>/<split>.json            summary (schema below), written atomically
    <estimator>/<split>.scores.csv.gz   arch_id, seed, score (one row per arch × seed)
    <estimator>/.<split>.ckpt.jsonl     resume checkpoint (git-ignored; see docs/distributed.md
                                        for committing one of a sweep that outlasts a session)

The schema is documented in ``docs/results-schema.md``; :func:`validate` enforces it. Results
are written only by the harness and never edited by hand.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
from pathlib import Path
from typing import Any

from harness.data import atomic_write_bytes

SCHEMA_VERSION = 1

REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "estimator": dict,
    "split": dict,
    "protocol": dict,
    "status": str,
    "n_archs": int,
    "n_nonfinite": int,
    "n_errors": int,
    "contract_ok": bool,
    "metrics": dict,
    "bias": dict,
    "cost": dict,
    "environment": dict,
    "scores_file": str,
}
REQUIRED_NESTED: dict[str, tuple[str, ...]] = {
    "estimator": ("name", "version", "kind", "idea", "paper"),
    "split": ("name", "version", "sha256", "benchmark", "dataset", "n_archs", "truth_column"),
    "protocol": ("seeds", "n_batches", "batch_size", "image_split", "loss", "nonfinite_rule"),
    "metrics": ("per_seed", "mean", "std"),
    "bias": ("complexity", "operation", "seed_variance"),
    "cost": ("wall_s_per_arch_median", "wall_s_per_arch_p90", "peak_rss_mb", "device"),
    "environment": ("torch", "python", "harness_commit", "date", "device_name", "threads"),
}


class ResultsSchemaError(ValueError):
    """A results file that does not follow the current schema."""


def validate(obj: Any, where: str = "results") -> dict:
    """Check a results object against the schema; return it unchanged.

    Raises:
        ResultsSchemaError: naming the first missing or mistyped field.
    """
    if not isinstance(obj, dict):
        raise ResultsSchemaError(f"{where}: top level must be an object")
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsSchemaError(
            f"{where}: schema_version {version!r} is not the current {SCHEMA_VERSION}; "
            "re-run the harness to regenerate it"
        )
    for key, typ in REQUIRED.items():
        if key not in obj:
            raise ResultsSchemaError(f"{where}: missing field {key!r}")
        if not isinstance(obj[key], typ) or (typ is int and isinstance(obj[key], bool)):
            raise ResultsSchemaError(f"{where}: field {key!r} must be {typ}")
    for key, subkeys in REQUIRED_NESTED.items():
        for sub in subkeys:
            if sub not in obj[key]:
                raise ResultsSchemaError(f"{where}: missing field {key}.{sub}")
    if obj["status"] not in ("complete", "skipped"):
        raise ResultsSchemaError(f"{where}: status must be 'complete' or 'skipped'")
    _check_finite(obj, where)
    return obj


def _check_finite(obj: Any, where: str, path: str = "") -> None:
    # JSON has no NaN; undefined values are null. A NaN here would mean a bug upstream.
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ResultsSchemaError(f"{where}: non-finite number at {path or '/'}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_finite(v, where, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _check_finite(v, where, f"{path}/{i}")


def results_path(results_dir: Path, estimator: str, split: str) -> Path:
    return Path(results_dir) / estimator / f"{split}.json"


def scores_path(results_dir: Path, estimator: str, split: str) -> Path:
    return Path(results_dir) / estimator / f"{split}.scores.csv.gz"


def checkpoint_path(results_dir: Path, estimator: str, split: str, shard: str = "") -> Path:
    suffix = f".shard{shard.replace('/', 'of')}" if shard else ""
    return Path(results_dir) / estimator / f".{split}{suffix}.ckpt.jsonl"


def checkpoint_paths(results_dir: Path, estimator: str, split: str) -> list[Path]:
    """Every checkpoint of ``estimator`` on ``split`` in ``results_dir``: the unsharded one and
    those of any sharding (``.<split>.shard<i>of<N>.ckpt.jsonl``), sorted by name.

    A split whose name extends another's (``nb101`` / ``nb101-1k``) never matches: the name is
    followed by ``.shard`` or ``.ckpt`` exactly.
    """
    folder = Path(results_dir) / estimator
    pattern = re.compile(rf"^\.{re.escape(split)}(\.shard\d+of\d+)?\.ckpt\.jsonl$")
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if pattern.match(p.name) and p.is_file())


def write_json(path: Path, obj: dict) -> None:
    """Validate and write a results object atomically (sorted keys, stable formatting)."""
    validate(obj, str(path))
    text = json.dumps(obj, indent=1, sort_keys=True, allow_nan=False) + "\n"
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def load_json(path: Path) -> dict:
    """Read and validate a results file."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ResultsSchemaError(f"{path}: unreadable ({exc})") from exc
    return validate(obj, str(path))


def write_scores(path: Path, rows: list[tuple[int, int, float | None]]) -> None:
    """Write ``(arch_id, seed, score)`` rows as a deterministic gzip CSV (``repr`` floats, so
    the exact doubles round-trip; non-finite scores as empty cells)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["arch_id", "seed", "score"])
    for arch_id, seed, score in sorted(rows, key=lambda r: (r[1], r[0])):
        w.writerow([arch_id, seed, "" if score is None else repr(float(score))])
    raw = buf.getvalue().encode()

    def write(fh):
        # mtime=0 and no file name: identical scores give identical bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
            gz.write(raw)

    atomic_write_bytes(path, write)


def read_scores(path: Path) -> list[tuple[int, int, float | None]]:
    """Rows written by :func:`write_scores`."""
    with gzip.open(path, "rt", newline="") as fh:
        r = csv.reader(fh)
        next(r)
        return [(int(a), int(s), float(v) if v != "" else None) for a, s, v in r]
