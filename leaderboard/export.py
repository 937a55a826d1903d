"""``python -m leaderboard export``: the home table, the table across the benchmarks, or a
split's table, as LaTeX or Markdown —
built by the same code as the site's tables, so it holds the same cells — or the same results
as numeric data (CSV, one row per estimator and split: :mod:`leaderboard.data_export`)."""

from __future__ import annotations

from pathlib import Path

from leaderboard import home, split_page, tables
from leaderboard.collect import benchmark_splits, board_rows, collect
from leaderboard.data_export import data_records, to_data_csv
from leaderboard.site import Site


class ExportError(ValueError):
    """Nothing to export (no results, or no results on the requested split)."""


def export_table(results_dir: Path, fmt_name: str, split: str | None = None,
                 use_registry: bool = True, caption: str | None = None,
                 warnings: list[str] | None = None, across: bool = False) -> str:
    """The table the site shows, in ``fmt_name`` (one of :data:`leaderboard.tables.FORMATS`);
    for ``csv``, the same results as numbers (:func:`leaderboard.data_export.to_data_csv`).

    Args:
        results_dir: the results directory (as for ``build``).
        fmt_name: ``csv``, ``latex`` or ``markdown``.
        split: a split's full table (its page's), instead of the home table.
        across: the home page's table across the benchmarks (mean τ with its rank group),
            instead of the ranking; for ``csv`` its numbers, the mean's 95 % interval included
            (:func:`leaderboard.home.cross_benchmark_records`). Not with ``split``.
        use_registry: check results against the registered estimators, as the build does
            (stale versions make rows incomplete).
        caption: LaTeX only: wrap the tabular in a ``table`` float with this caption.
        warnings: if given, the unusable results files are appended to it.

    Raises:
        ExportError: without results (on ``split``), or nothing across the benchmarks.
        ValueError: on an unknown format, or ``across`` with ``split``.
    """
    if fmt_name not in tables.FORMATS:
        raise ValueError(f"unknown format {fmt_name!r}; choose from {', '.join(tables.FORMATS)}")
    if across and split is not None:
        raise ValueError("--across is the table over every benchmark: leave out --split")
    coll = collect(Path(results_dir), use_registry=use_registry)
    if warnings is not None:
        warnings.extend(coll.warnings)
    site = Site(coll=coll, results_label=Path(results_dir).as_posix())
    primary = coll.primary_split()
    if primary is None:
        raise ExportError(f"no usable results in {results_dir}")
    if split is not None and split not in coll.splits():
        raise ExportError(f"no results on split {split!r} in {results_dir} (splits with "
                          f"results: {', '.join(coll.splits())})")
    if across:
        site.home_rows = board_rows(coll)
        bench = benchmark_splits(coll.splits())
        if len(bench) < 2:  # as on the site: one benchmark is the ranking itself
            raise ExportError(f"the results in {results_dir} cover one benchmark "
                              f"({', '.join(bench)}); the table across the benchmarks needs two")
        if not home.cross_benchmark_rows(site, coll.splits())[0]:
            raise ExportError(f"no estimator in {results_dir} has a usable result on every "
                              f"benchmark ({', '.join(bench)})")
        if fmt_name == "csv":
            return to_data_csv(home.cross_benchmark_records(site, coll.splits()),
                               home.across_columns(coll.splits()))
        return tables.render(home.cross_benchmark_table_model(site, coll.splits()), fmt_name,
                             caption if fmt_name == "latex" else None)
    if fmt_name == "csv":
        return to_data_csv(data_records(coll, [split] if split else coll.splits()))
    if split is None:
        site.home_rows = board_rows(coll)
        table = home.home_table_model(site, coll.splits())
    else:
        table = split_page.estimators_table_model(site, split)
    return tables.render(table, fmt_name, caption if fmt_name == "latex" else None)
