"""Which estimator files the harness trusts enough to import into its own process.

A file is *trusted* when its bytes are those a maintainer recorded: the committed catalog
(``leaderboard/catalog.json``, written by ``python -m harness catalog --write`` and checked by
CI) holds the SHA-256 of each estimator's source file. Every other file -- a new submission, a
changed one, a file of another package -- is untrusted: the registry never imports it in the
process that reads ground truth; it is described in a guarded worker process
(:mod:`harness.sandbox`) and scored only in workers (:mod:`harness.run.isolation`).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

#: The committed catalog: what the site reads, and the record of trusted sources.
CATALOG_PATH = Path(__file__).resolve().parent.parent / "leaderboard" / "catalog.json"
#: The package whose files the catalog vouches for.
TRUSTED_PACKAGE = "estimators"


def source_sha256(path: str | Path) -> str:
    """The SHA-256 (hex) of a source file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@cache
def recorded_sources(path: Path = CATALOG_PATH) -> dict[str, str]:
    """Estimator name -> the SHA-256 of its source file, as the committed catalog records it
    (empty when the catalog is missing or unreadable: then nothing is trusted)."""
    try:
        entries = json.loads(Path(path).read_text())["estimators"]
        return {name: str(e["source_sha256"]) for name, e in entries.items()
                if isinstance(e, dict) and e.get("source_sha256")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def is_trusted(package: str, stem: str, path: str | Path) -> bool:
    """Whether the file ``path`` (module ``<package>.<stem>``) is the one the catalog records
    for estimator ``stem``."""
    if package != TRUSTED_PACKAGE:
        return False
    recorded = recorded_sources().get(stem)
    try:
        return recorded is not None and recorded == source_sha256(path)
    except OSError:
        return False


def forget() -> None:
    """Read the catalog again next time (after ``catalog --write``, and in tests)."""
    recorded_sources.cache_clear()
