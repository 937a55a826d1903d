"""``python -m leaderboard build``: results → Markdown pages and SVG plots under ``docs/``.

Generated (and, on each build, removed and rewritten):

* ``docs/index.md`` — home: the ranked table;
* ``docs/estimators/index.md`` and ``docs/estimators/<name>.md`` — one page per estimator;
* ``docs/splits/index.md`` and ``docs/splits/<split>.md`` — one page per benchmark split;
* ``docs/img/estimators/<name>/<split>-{scatter,curves,complexity}.svg``,
  ``docs/img/splits/<split>-{truth,cost}.svg`` and ``docs/img/home/tau-heatmap.svg`` — plots;
* ``docs/downloads/leaderboard.csv`` and ``docs/downloads/<split>.csv`` — the results as
  numeric data, one row per (estimator, split) (the same bytes as ``python -m leaderboard
  export --format csv``; :mod:`leaderboard.data_export`);
* ``docs/downloads/across-benchmarks.csv`` — the home page's table across the benchmarks as
  numbers (mean τ with its interval and rank group), when the page shows that table (the same
  bytes as ``python -m leaderboard export --across --format csv``)
* ``docs/downloads/published.csv`` — every published figure the estimators cite, beside ours
  (:mod:`leaderboard.published`).

Every other file under ``docs/`` is hand-written and left alone (a Markdown file in a generated
folder is only removed if it carries the generated-file header). The same results give the
same bytes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.splits import load_split
from leaderboard import analysis, estimator_page, home, plots, published, split_page, trained_page
from leaderboard.collect import Collection, board_rows, collect, rank_rows
from leaderboard.data_export import data_records, to_data_csv
from leaderboard.site import Site
from leaderboard.site import estimator_page as estimator_page_path
from leaderboard.site import split_page as split_page_path

GENERATED_DIRS = ("estimators", "splits")
GENERATED_IMG_DIRS = ("img/estimators", "img/splits", "img/home")
#: Folders under docs/ that only the build writes (removed as a whole by clean).
GENERATED_ASSET_DIRS = GENERATED_IMG_DIRS + ("downloads",)
#: Generated pages at the top of docs/ that exist only for some results (removed by clean).
GENERATED_OPTIONAL_PAGES = (trained_page.PAGE,)
MARKER = "---\n# GENERATED FILE:"


@dataclass
class BuildReport:
    """What a build wrote.

    Attributes:
        pages: Markdown files written (paths under the docs directory).
        images: image files written.
        downloads: other files written (the tables as CSV).
        warnings: unusable results files and other problems (also shown on the home page).
    """

    pages: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    downloads: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def clean(docs_dir: Path) -> None:
    """Remove everything a previous build generated (and nothing else)."""
    for sub in GENERATED_ASSET_DIRS:
        shutil.rmtree(docs_dir / sub, ignore_errors=True)
    for rel in GENERATED_OPTIONAL_PAGES:
        page = docs_dir / rel
        if page.is_file() and page.read_text(encoding="utf-8",
                                             errors="replace").startswith(MARKER):
            page.unlink()
    for sub in GENERATED_DIRS:
        folder = docs_dir / sub
        if not folder.is_dir():
            continue
        for md in folder.glob("*.md"):
            if md.read_text(encoding="utf-8", errors="replace").startswith(MARKER):
                md.unlink()


def _hand_written(docs_dir: Path) -> set[str]:
    return {p.relative_to(docs_dir).as_posix() for p in docs_dir.rglob("*.md")
            if not p.read_text(encoding="utf-8", errors="replace").startswith(MARKER)}


def _load_truth(coll: Collection, data_dir: str | None) -> dict[str, np.ndarray | None]:
    truth: dict[str, np.ndarray | None] = {}
    for split in coll.splits():
        try:
            truth[split] = np.asarray(load_split(split).ground_truth(data_dir), dtype=float)
        except Exception as exc:  # no data here: pages are still built, without plots
            truth[split] = None
            coll.warnings.append(f"ground truth of {split} unavailable ({type(exc).__name__}: "
                                 f"{exc}); its plots and truth summary are left out")
    return truth


def _estimator_plots(site: Site, docs_dir: Path, report: BuildReport) -> None:
    coll = site.coll
    board = set(coll.splits())
    for (name, split), res in sorted(coll.results.items()):
        if res.skipped or split not in board:  # indicative (smoke) results get no page
            continue
        made: dict[str, str] = {}
        base = f"img/estimators/{name}/{split}"
        title = f"{name} on {split}"
        cx = res.obj["bias"].get("complexity") or {}
        quint = cx.get("kendall_within_param_quintiles") or []
        if quint:
            fig = plots.complexity_bias(quint, res.mean("kendall"), cx.get("kendall_with_params"),
                                        title)
            made["complexity"] = f"{base}-complexity.svg"
            report.images.append(plots.save(fig, docs_dir / made["complexity"]))
        points = (res.obj.get("curve") or {}).get("points") or []
        if points:
            fig = plots.training_curve(points, f"{title}: training curve")
            made["training"] = f"{base}-training.svg"
            report.images.append(plots.save(fig, docs_dir / made["training"]))
        truth = site.truth.get(split)
        if truth is not None and res.scores is not None:
            try:
                matrix = analysis.seed_scores(res.scores, load_split(split).arch_ids, res.seeds)
            except (ValueError, OSError, EOFError) as exc:
                coll.warnings.append(f"{res.path}: scores file unusable ({exc}); plots skipped")
            else:
                fig = plots.rank_scatter(analysis.rank01(truth), analysis.mean_score_rank(matrix),
                                         title, res.mean("kendall"))
                made["scatter"] = f"{base}-scatter.svg"
                report.images.append(plots.save(fig, docs_dir / made["scatter"]))
                fig = plots.topk_curves(analysis.topk_curves(matrix, truth), title)
                made["curves"] = f"{base}-curves.svg"
                report.images.append(plots.save(fig, docs_dir / made["curves"]))
        site.images[(name, split)] = made


def _split_plots(site: Site, docs_dir: Path, report: BuildReport) -> None:
    for split, truth in sorted(site.truth.items()):
        if truth is None:
            continue
        sp = load_split(split)
        fig = plots.truth_histogram(truth, f"{split}: ground truth",
                                    f"true accuracy (%), {sp.truth_column}")
        rel = f"img/splits/{split}-truth.svg"
        report.images.append(plots.save(fig, docs_dir / rel))
        site.split_images[split] = {"truth": rel}


def _home_plots(site: Site, docs_dir: Path, report: BuildReport) -> None:
    """The τ heatmap of the home table's rows × splits."""
    splits = site.coll.splits()
    rows = site.home_rows
    if not rows or not splits:
        return
    values = np.array([[_tau_or_nan(row.cells.get(split)) for split in splits] for row in rows])
    if not np.isfinite(values).any():
        return
    names = [row.name for row in rows]
    fig = plots.tau_heatmap(names, splits, values, "Kendall τ, mean over seeds")
    report.images.append(plots.save(fig, docs_dir / home.HEATMAP))
    site.home_images["heatmap"] = home.HEATMAP


def _tau_or_nan(res) -> float:
    value = None if res is None else res.mean("kendall")
    return float("nan") if value is None else float(value)


def _cost_plots(site: Site, docs_dir: Path, report: BuildReport) -> None:
    """Per split: τ against seconds per architecture, for results with both."""
    for split in site.coll.splits():
        rows = rank_rows(site.coll, [split], split)
        points = []
        for row in rows:
            res = row.cells.get(split)
            if res is None or res.mean("kendall") is None:
                continue
            cost = res.obj["cost"].get("wall_s_per_arch_median")
            joint = res.obj["cost"].get("mode") == "joint"
            if res.standalone is not None:  # what running it alone costs, where measured
                cost, joint = res.standalone["s_per_arch_median"], False
            if cost is None or not cost > 0:  # log axis: a zero cost has no place on it
                continue
            training = res.obj["cost"].get("training")
            if training:  # a one-shot estimator costs its amortised training plus its scoring
                cost += training["cpu_s_per_arch"]
            points.append({"name": row.name, "tau": float(res.mean("kendall")),
                           "cost": float(cost), "kind": row.kind, "complete": row.complete,
                           "joint": joint})
        if not points:
            continue
        fig = plots.tau_cost_scatter(points, f"{split}: Kendall τ against cost")
        rel = f"img/splits/{split}-cost.svg"
        report.images.append(plots.save(fig, docs_dir / rel))
        site.split_images.setdefault(split, {})["cost"] = rel


def _write(docs_dir: Path, rel: str, text: str, report: BuildReport,
           into: list[Path] | None = None) -> None:
    path = docs_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    (report.pages if into is None else into).append(path)


def build(results_dir: Path = Path("leaderboard/results"), docs_dir: Path = Path("docs"),
          data_dir: str | None = None, make_plots: bool = True, use_registry: bool = True,
          results_label: str | None = None, trained_dir: Path | None = None,
          local: frozenset[str] = frozenset()) -> BuildReport:
    """Build every generated page and plot.

    Args:
        results_dir: the results directory.
        docs_dir: the MkDocs ``docs_dir``.
        data_dir: benchmark data (default ``$ESTBENCH_DATA``); needed for the ground truth of
            the plots and split summaries — without it those are left out with a warning.
        make_plots: False to skip all plots (faster previews).
        use_registry: check results against the registered estimators (stale versions,
            estimators without results).
        results_label: how the results directory is named on the pages (default: as given).
        trained_dir: results of zero-shot estimators on trained supernet weights, one folder
            per weights source (``leaderboard/results-trained``); when it holds any, the page
            ``trained-weights.md`` compares them with the random-initialisation results.
        local: estimators whose results are the user's own (``leaderboard preview``), marked.

    Returns:
        What was written, and the warnings (also printed by the CLI and shown on the home page).
    """
    results_dir, docs_dir = Path(results_dir), Path(docs_dir)
    report = BuildReport()
    coll = collect(results_dir, use_registry=use_registry)
    docs_dir.mkdir(parents=True, exist_ok=True)
    clean(docs_dir)
    site = Site(coll=coll, results_label=results_label or results_dir.as_posix(),
                existing=_hand_written(docs_dir), local=frozenset(local))
    site.home_rows = board_rows(coll)
    site.truth = _load_truth(coll, data_dir)
    if make_plots:
        _estimator_plots(site, docs_dir, report)
        _split_plots(site, docs_dir, report)
        _cost_plots(site, docs_dir, report)
        _home_plots(site, docs_dir, report)
    # Pages last: the plots above may add warnings that the home page lists.
    for name in coll.estimators():
        _write(docs_dir, estimator_page_path(name), estimator_page.render(site, name), report)
    for split in coll.splits():
        _write(docs_dir, split_page_path(split), split_page.render(site, split), report)
    _write(docs_dir, split_page.ESTIMATORS_INDEX, split_page.render_estimators_index(site), report)
    _write(docs_dir, split_page.SPLITS_INDEX, split_page.render_splits_index(site), report)
    _write(docs_dir, home.PAGE, home.render(site), report)
    # The tables as CSV, linked from the pages (always written: the links are unconditional).
    if coll.primary_split():
        _write(docs_dir, home.CSV, to_data_csv(data_records(coll, coll.splits())), report,
               report.downloads)
    if home.shows_across(site, coll.splits()):  # the home page links it exactly then
        _write(docs_dir, home.ACROSS_CSV,
               to_data_csv(home.cross_benchmark_records(site, coll.splits()),
                           home.across_columns(coll.splits())), report, report.downloads)
    if published.comparisons(site):  # the estimators index links it exactly then
        _write(docs_dir, published.CSV, published.to_data_csv(site), report, report.downloads)
    for split in coll.splits():
        _write(docs_dir, split_page.csv_path(split),
               to_data_csv(data_records(coll, [split])), report, report.downloads)
    trained = trained_page.collect_trained(trained_dir)
    if trained:
        label = Path(trained_dir).as_posix() if trained_dir is not None else ""
        _write(docs_dir, trained_page.PAGE, trained_page.render(site, trained, label), report)
        for source, tcoll in trained.items():
            report.warnings += [f"{Path(trained_dir).name}/{source}/{w}" for w in tcoll.warnings]
    report.warnings = list(coll.warnings) + report.warnings
    return report
