"""The estimator catalog: what the registered estimators say about themselves, as JSON.

The site needs, beyond the results, what the code says *now*: each estimator's kind and
version (results of another version are stale), its idea and paper (a page for an estimator
not scored yet), the splits it does not apply to and why, and the figures published for it.
Importing the registry for that would import torch and every submission; the site instead
reads ``leaderboard/catalog.json``, which this module writes from the registry
(``python -m harness catalog --write``) and CI checks is current (``--check``), as it checks
the results schema. The catalog is generated, never edited by hand; like results, it is
committed by a maintainer, so a pull request that adds a submission does not touch it.

Each entry also records the SHA-256 of the estimator's source file: writing the catalog is how
a maintainer vouches for the code, and only files with the recorded hash are imported into the
harness's own process (:mod:`harness.trust`); any other is described and scored in workers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from harness import registry, trust
from harness.data import atomic_write_bytes
from harness.run.resolve import skip_reason
from harness.splits import load_split, split_names

#: Where the site reads it (and :mod:`harness.trust` the trusted sources).
CATALOG_PATH = trust.CATALOG_PATH
#: Version of the catalog's layout (the site refuses another).
CATALOG_VERSION = 1


def build_catalog() -> dict[str, Any]:
    """The catalog of the estimators registered now (broken submissions listed apart)."""
    splits = [load_split(n) for n in split_names()]
    estimators = {}
    for name, est in sorted(registry.discover().items()):
        info = est.info
        estimators[name] = {
            "kind": info.kind,
            "version": str(info.version),
            "idea": info.idea,
            "paper": dataclasses.asdict(info.paper) if info.paper is not None else None,
            "published": [dataclasses.asdict(p) for p in info.published],
            "not_applicable": {s.name: r for s in splits if (r := skip_reason(est, s))},
            "source_sha256": _source_sha256(est),
        }
    broken = {b.module: b.message for b in registry.broken()}
    return {"catalog_version": CATALOG_VERSION,
            "generated_by": "python -m harness catalog --write",
            "estimators": estimators, "broken": broken}


def _source_sha256(est) -> str | None:
    path = est.source_file
    try:
        return trust.source_sha256(path) if path is not None else None
    except OSError:
        return None


def render(catalog: dict[str, Any]) -> str:
    """The catalog as the committed file holds it (sorted keys, one trailing newline)."""
    return json.dumps(catalog, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write(path: Path = CATALOG_PATH) -> None:
    """Write the catalog of the estimators registered now to ``path`` (atomically)."""
    text = render(build_catalog()).encode()
    atomic_write_bytes(Path(path), lambda fh: fh.write(text))
    trust.forget()  # the files it records are trusted from now on


#: Committed results; an estimator without any is a new submission (see :func:`differences`).
RESULTS_DIR = CATALOG_PATH.parent / "results"


def differences(path: Path = CATALOG_PATH, results_dir: Path = RESULTS_DIR) -> list[str]:
    """What the committed catalog at ``path`` says differently from the registry (empty when
    it is current).

    A registered estimator with no committed results and no catalog entry is a submission not
    scored yet: its pull request adds only ``estimators/<name>.py``, and the maintainer who
    commits its first results regenerates the catalog with them. It is not a difference.
    """
    fresh = build_catalog()
    try:
        stored = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        return [f"{path}: cannot be read ({exc})"]
    out = []
    for name in sorted(set(fresh["estimators"]) | set(stored.get("estimators", {}))):
        a = stored.get("estimators", {}).get(name)
        b = fresh["estimators"].get(name)
        if a is None and not any((Path(results_dir) / name).glob("*.json")):
            continue  # a new submission, not scored yet
        if a != b:
            what = "missing" if a is None else "no longer registered" if b is None else \
                ", ".join(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
            out.append(f"{name}: {what}")
    if stored.get("broken") != fresh["broken"]:
        out.append("broken submissions differ")
    if stored.get("catalog_version") != CATALOG_VERSION:
        out.append(f"catalog_version {stored.get('catalog_version')!r}, expected "
                   f"{CATALOG_VERSION}")
    return out
