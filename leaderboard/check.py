"""Whether the committed site is what the committed results build (``python -m leaderboard check``).

The pages are generated from ``leaderboard/results``; a results change committed without
rebuilding leaves the published site behind. The check builds into a temporary copy of
``docs/`` (the hand-written pages take part in the build: navigation, links), so the working
tree is never touched, and compares the copy with ``docs/``:

* every page, download and other text file byte for byte;
* plots (``.svg``) only by presence: their bytes also depend on the installed matplotlib
  version, which the results do not pin.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from leaderboard.build import build

#: Files whose bytes depend on more than the results (the plotting library's version).
PRESENCE_ONLY = (".svg",)


@dataclass
class Drift:
    """What a rebuild would change in ``docs/`` (paths relative to it)."""

    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    def lines(self) -> list[str]:
        return ([f"changed: {p}" for p in self.changed] + [f"new: {p}" for p in self.added]
                + [f"gone: {p}" for p in self.removed])


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}


def compare_trees(committed: Path, rebuilt: Path) -> Drift:
    """The differences of ``rebuilt`` from ``committed`` (see the module docstring)."""
    before, after = _files(committed), _files(rebuilt)
    drift = Drift(added=sorted(set(after) - set(before)),
                  removed=sorted(set(before) - set(after)))
    for rel in sorted(set(before) & set(after)):
        if rel.endswith(PRESENCE_ONLY):
            continue
        if before[rel].read_bytes() != after[rel].read_bytes():
            drift.changed.append(rel)
    return drift


def check(results_dir: Path, docs_dir: Path, *, trained_dir: Path | None = None,
          data_dir: str | None = None) -> Drift:
    """Build ``results_dir`` into a copy of ``docs_dir`` and return what would change."""
    with tempfile.TemporaryDirectory(prefix="estbench-site-check-") as tmp:
        copy = Path(tmp) / "docs"
        shutil.copytree(docs_dir, copy)
        report = build(results_dir, copy, data_dir=data_dir, trained_dir=trained_dir)
        drift = compare_trees(docs_dir, copy)
        drift.warnings = list(report.warnings)
    return drift
