"""What the page writers share: the collected results, plots made, ground truth, links."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

import numpy as np

from leaderboard.collect import Collection, Row

#: Hand-written pages that generated pages link to when they exist (path under docs/).
REFERENCE_PAGES = {
    "metrics": "metrics.md",
    "schema": "results-schema.md",
    "data": "data.md",
    "benchmarks": "benchmarks.md",
    "submitting": "submitting.md",
    "compute-plan": "compute-plan.md",
}


@dataclass
class Site:
    """Inputs of the page writers.

    Attributes:
        coll: the collected results.
        results_label: how the results directory is named on the pages.
        images: ``(estimator, split)`` → plot name → image path under ``docs/``.
        split_images: split → plot name → image path under ``docs/``.
        truth: split → ground truth in split order (``None``: unavailable).
        existing: paths (under ``docs/``) of hand-written pages that exist.
        home_rows: the ranked rows of the home table.
        home_images: plot name → image path under ``docs/`` of the home page (``heatmap``).
        local: estimators whose rows are the user's own local results (``leaderboard preview``),
            marked in the tables.
    """

    coll: Collection
    results_label: str
    images: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    split_images: dict[str, dict[str, str]] = field(default_factory=dict)
    truth: dict[str, np.ndarray | None] = field(default_factory=dict)
    existing: set[str] = field(default_factory=set)
    home_rows: list[Row] = field(default_factory=list)
    home_images: dict[str, str] = field(default_factory=dict)
    local: frozenset[str] = frozenset()

    def ref(self, page: str, from_page: str, text: str) -> str:
        """A Markdown link to a hand-written reference page, or plain ``text`` if it is absent
        (a dangling link would fail ``mkdocs build --strict``)."""
        target = REFERENCE_PAGES.get(page, page)
        if target not in self.existing:
            return text
        return f"[{text}]({link(from_page, target)})"


def link(from_page: str, target: str) -> str:
    """Relative link from one docs page (or image) path to another, both under ``docs/``."""
    return posixpath.relpath(target, posixpath.dirname(from_page) or ".")


def estimator_page(name: str) -> str:
    return f"estimators/{name}.md"


def split_page(split: str) -> str:
    return f"splits/{split}.md"
