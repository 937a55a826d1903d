"""``python -m leaderboard preview``: your local results on the committed leaderboard.

A local run writes into the user results directory (never the tracked tree). The preview merges
those results with the committed ones into a scratch copy, builds the site from it into a
separate docs directory, and marks your rows (★), so you see where your estimator would rank
before opening a pull request. Only splits the leaderboard already has are merged: a result on
a split with no committed result is listed, not added as a column, so it never makes the
committed rows provisional.

Each placed result also gets a line: its Kendall τ with the 95 % bootstrap interval, and its
rank among the committed results of that split. On a small split (the 100-cell
``nb201-c10-smoke``, where every zero-shot estimator and baseline has committed results) the
rank is labelled *indicative*: 100 cells give a wide interval, and the board ranks on 1,000.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from leaderboard.build import build
from leaderboard.cells import ci
from leaderboard.collect import Collection, collect

#: Splits smaller than this give an *indicative* rank (the board's ranking splits have 1,000).
INDICATIVE_BELOW = 1000


@dataclass(frozen=True)
class Placement:
    """Where one of your results lands among the committed results of its split.

    Attributes:
        estimator, split: the result.
        tau: mean Kendall τ over its seeds (``None`` when its contract failed).
        ci: 95 % bootstrap interval of τ over the split's architectures, if stored.
        rank: 1 + the number of committed estimators with a higher τ (``None`` without τ).
        n_ranked: estimators ranked on the split, yours included.
        n_archs: architectures in the split.
    """

    estimator: str
    split: str
    tau: float | None
    ci: tuple[float, float] | None
    rank: int | None
    n_ranked: int
    n_archs: int

    @property
    def indicative(self) -> bool:
        return self.n_archs < INDICATIVE_BELOW

    def line(self) -> str:
        """One line for the terminal."""
        if self.tau is None:
            return f"{self.estimator} on {self.split}: no τ (its contract failed), not ranked"
        band = f" [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}] (95 % bootstrap CI)" if self.ci else \
            " (no bootstrap interval stored)"
        where = f"rank {self.rank} of {self.n_ranked} on {self.split}"
        note = (f" -- indicative: {self.n_archs} cells; score nb201-c10-1k for the board's rank"
                if self.indicative else "")
        return f"{self.estimator}: τ {self.tau:+.3f}{band}, {where}{note}"


def place(committed: Collection, est: str, res) -> Placement:
    """The rank of ``res`` (your result of ``est``) among ``committed``'s results on its split
    (a committed result of the same estimator is replaced by yours)."""
    tau = res.mean("kendall")
    others = [r.mean("kendall") for name, r in committed.of_split(res.split).items()
              if name != est and not r.skipped and r.mean("kendall") is not None]
    rank = None if tau is None else 1 + sum(t > tau for t in others)
    return Placement(est, res.split, tau, ci(res), rank, len(others) + (tau is not None),
                     int(res.obj["split"].get("n_archs") or 0))


@dataclass
class Preview:
    """What a preview did.

    Attributes:
        docs_dir: the built docs directory (``mkdocs serve -f`` it, or open the Markdown).
        merged: ``(estimator, split)`` of your results placed on the board (a column of it).
        off_board: ``(estimator, split, tau)`` of your results on splits the board lacks.
        placements: the rank of each of your results among the committed ones of its split:
            the merged ones, and those on an indicative split (the smoke split).
        warnings: the build's warnings.
    """

    docs_dir: Path
    merged: list[tuple[str, str]] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    off_board: list[tuple[str, str, float | None]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _copy_result(src_dir: Path, dst_dir: Path, est: str, split: str, scores_file: str) -> None:
    (dst_dir / est).mkdir(parents=True, exist_ok=True)
    for name in (f"{split}.json", scores_file):
        if (src_dir / est / name).is_file():
            shutil.copy2(src_dir / est / name, dst_dir / est / name)


def preview(user_dir: Path, out_dir: Path, committed_dir: Path = Path("leaderboard/results"),
            data_dir: str | None = None, make_plots: bool = True) -> Preview:
    """Build the leaderboard with the results of ``user_dir`` merged into ``committed_dir``.

    Args:
        user_dir: your results directory.
        out_dir: a scratch directory (it gets ``results/`` and ``docs/``); never the
            repository's own ``docs/``.
        committed_dir: the committed results.
        data_dir: benchmark data for the plots.
        make_plots: False for a faster, text-only preview.
    """
    out_dir = Path(out_dir)
    if (out_dir / ".git").exists() or (out_dir / "leaderboard").is_dir():
        raise ValueError(f"{out_dir} looks like a project directory; give a scratch directory")
    merged_dir, docs_dir = out_dir / "results", out_dir / "docs"
    if merged_dir.exists():
        shutil.rmtree(merged_dir)
    shutil.copytree(committed_dir, merged_dir)
    board = collect(Path(committed_dir), use_registry=False)
    board_splits = set(board.splits())
    mine = collect(Path(user_dir), use_registry=False)
    out = Preview(docs_dir=docs_dir, warnings=list(mine.warnings))
    indicative = set(board.indicative_splits())
    for (est, split), res in sorted(mine.results.items()):
        if split in board_splits:
            _copy_result(Path(user_dir), merged_dir, est, split, res.obj["scores_file"])
            out.merged.append((est, split))
            out.placements.append(place(board, est, res))
        elif split in indicative:
            # Ranked among the committed smoke results, but not a column of the board.
            out.placements.append(place(board, est, res))
        else:
            out.off_board.append((est, split, res.mean("kendall")))
    # Hand-written pages (submitting.md, metrics.md, ...) so that links resolve.
    repo = Path(committed_dir).resolve().parents[1]
    if (repo / "docs").is_dir() and not docs_dir.exists():
        shutil.copytree(repo / "docs", docs_dir)
    if (repo / "mkdocs.yml").is_file():  # so that ``mkdocs serve -f <out>/mkdocs.yml`` works
        shutil.copy2(repo / "mkdocs.yml", out_dir / "mkdocs.yml")
    report = build(merged_dir, docs_dir, data_dir=data_dir, make_plots=make_plots,
                   results_label=f"{committed_dir} + {user_dir}",
                   local=frozenset(e for e, _ in out.merged))
    out.warnings += report.warnings
    return out
