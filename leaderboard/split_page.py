"""One page per benchmark split (description, ground truth, every estimator on it), plus the
index pages of the two generated sections."""

from __future__ import annotations

import numpy as np

from harness.splits import load_split, split_names
from leaderboard import fmt, published
from leaderboard.cells import (
    ci,
    ci_text,
    cost_model,
    group_cell,
    missing_cell,
    rank_groups_for,
    seeds_phrase,
    status_legend,
    status_mark,
    tau_tooltip,
)
from leaderboard.collect import Result, rank_rows
from leaderboard.site import Site, estimator_page, link, split_page
from leaderboard.tables import Cell, Column, Table, to_site

SPLITS_INDEX = "splits/index.md"
ESTIMATORS_INDEX = "estimators/index.md"

#: (metric key, column title) of the metric columns after τ, its CI and the rank group.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("spearman", "Spearman ρ"), ("pearson", "Pearson r"),
    ("p_top_5", "P@top 5 %"), ("p_top_10", "P@top 10 %"), ("br_5", "BR@5 % ↓"),
    ("wr_5", "WR@5 % ↓"), ("ndcg_exp_5", "nDCG@5 %"),
)


def csv_path(split: str) -> str:
    """The split's table as CSV, under docs/ (written by the build)."""
    return f"downloads/{split}.csv"


def _spearman_cell(res: Result) -> Cell:
    interval = ci(res, "spearman")
    title = "Spearman ρ, mean over seeds" + (
        f"; 95 % CI [{fmt.num(interval[0], 4)}, {fmt.num(interval[1], 4)}]" if interval else "")
    return Cell(fmt.num(res.mean("spearman")), title=title)


def estimators_table_model(site: Site, split: str) -> Table:
    """Every estimator on ``split`` with the full metric columns (ranked on this split)."""
    rows = rank_rows(site.coll, [split], split)
    groups = rank_groups_for(rows, split)
    cols = [Column(Cell("#", title="rank by mean Kendall τ on this split")),
            Column(Cell("Estimator"), "left"), Column(Cell("Kind"), "left"),
            Column(Cell("Status", title=status_legend()), "center"),
            Column(Cell("Kendall τ", title="mean ± std over seeds")),
            Column(Cell("95 % CI", title="percentile bootstrap interval of the seed-mean τ "
                                         "over the split's architectures")),
            Column(Cell("Group", title="rank group on this split (paired bootstrap)"))]
    cols += [Column(Cell(title)) for _, title in COLUMNS]
    cols += [Column(Cell("Seeds")), Column(Cell("s/arch"))]
    table = Table(cols, legend=(
        f"Kendall τ: mean ± std over seeds on {split}; 95 % CI: percentile bootstrap over the "
        "split's architectures. Group: rank group (paired bootstrap). P@K: share of the "
        "estimator's top K % that are in the true top K %; BR@K / WR@K (lower is better): "
        "best / worst true rank among its top K %, divided by the split size; nDCG@K with "
        "the exponential gain 2^acc − 1 (see the metrics page). s/arch: the standalone cost "
        "(the estimator alone, one thread) where measured, else the scoring run's median; "
        "joint† = scored with other estimators; ‡ = measured on earlier code of the same "
        f"version. Status: {status_legend()}."))
    for row in rows:
        res = row.cells.get(split)
        cells = [Cell(str(row.rank) if row.rank is not None else fmt.MISSING),
                 Cell(row.name, href=estimator_page(row.name)), Cell(row.kind, nowrap=True),
                 status_mark(row)]
        if res is None:
            cells += [missing_cell(row, split)] * (len(cols) - len(cells))
        else:
            std = res.std("kendall")
            cells += [Cell(fmt.num(res.mean("kendall")),
                           note=f"± {fmt.num(std)}" if std is not None else "",
                           title=tau_tooltip(res)),
                      Cell(ci_text(res)), group_cell(row.name, groups), _spearman_cell(res)]
            cells += [Cell(fmt.num(res.mean(key))) for key, _ in COLUMNS[1:]]
            cells += [Cell(str(len(res.seeds))), cost_model(res)]
        table.rows.append(cells)
    return table


def _truth_summary(site: Site, split: str, page: str) -> str:
    truth = site.truth.get(split)
    sp = load_split(split)
    out = ["## Ground truth\n"]
    source = (f"column {fmt.code(sp.truth_column)} of {fmt.code(sp.truth_table)}"
              + (f", aggregated per {fmt.esc(sp.truth_aggregate.replace('_', ' '))}"
                 if sp.truth_aggregate != "none" else ""))
    if truth is None:
        out.append(f"Ranked against {source}. The ground truth could not be loaded when this "
                   "page was built (is `ESTBENCH_DATA` set?), so no summary is shown.\n")
        return "\n".join(out)
    rows = [[str(len(truth)), f"{np.min(truth):.2f}", f"{np.median(truth):.2f}",
             f"{np.mean(truth):.2f}", f"{np.max(truth):.2f}"]]
    out.append(f"Ranked against {source} ({site.ref('data', page, 'data')}).\n")
    out.append(fmt.table(["N", "Min", "Median", "Mean", "Max"], rows, ["right"] * 5))
    img = site.split_images.get(split, {}).get("truth")
    if img:
        out.append(f"\n![Ground-truth distribution of {split}]({link(page, img)})\n")
    return "\n".join(out)


def _estimators_table(site: Site, split: str, page: str) -> str:
    results = site.coll.of_split(split)
    if not results:
        return "No estimator has results on this split yet.\n"
    intro = (f"Ranked by mean Kendall τ on this split (mean over "
             f"{seeds_phrase(list(results.values()))}); incomplete results are listed after "
             "the ranked ones, unranked. ↓ = lower is better. Status: "
             f"{status_legend()}. Group = rank group on this split "
             f"({site.ref('metrics', page, 'how it is computed')}). "
             f"[Download its results as data (CSV)]({link(page, csv_path(split))}).\n")
    table = to_site(estimators_table_model(site, split), page)
    out = f'{intro}\n<div class="lb-board" markdown>\n\n{table}\n</div>\n'
    img = site.split_images.get(split, {}).get("cost")
    if img:
        out += ("\n### Quality against cost\n\n"
                f"![Kendall τ against seconds per architecture on {split}]({link(page, img)})"
                "\n\nKendall τ (mean over seeds) against seconds per architecture (log "
                "scale): the standalone cost where measured, else the scoring run's median; a "
                "one-shot estimator's amortised training is included. The line joins the "
                "estimators that no cheaper one beats (the good-and-cheap frontier, complete "
                "results only); hollow markers are costs from joint runs, which leave out "
                "passes charged to a partner.\n")
    return out


def render(site: Site, split: str) -> str:
    """Markdown of ``docs/splits/<split>.md``."""
    page = split_page(split)
    sp = load_split(split)
    # No sidebars: the estimators table needs the width.
    out = [fmt.generated_header(split, site.results_label, hide=("navigation", "toc")),
           f"# {split}\n"]
    out.append(f"{fmt.esc(sp.description)}\n")
    out.append(fmt.table(["About", ""], [
        ["Benchmark", f"{fmt.esc(sp.benchmark)} ({site.ref('benchmarks', page, 'about')})"],
        ["Dataset", fmt.esc(sp.dataset)],
        ["Architectures", str(len(sp))],
        ["Ground truth", f"{fmt.code(sp.truth_table)} / {fmt.code(sp.truth_column)}"],
        ["Split version", str(sp.version)],
        ["Content SHA-256", fmt.code(sp.sha256)],
    ], ["left", "left"]))
    out.append(_truth_summary(site, split, page))
    out.append("## Estimators\n")
    out.append(_estimators_table(site, split, page))
    return "\n".join(out)


def render_splits_index(site: Site) -> str:
    """Markdown of ``docs/splits/index.md``: every committed split, linked where scored."""
    scored = set(site.coll.splits())
    out = [fmt.generated_header("Benchmark splits", site.results_label), "# Benchmark splits\n"]
    out.append("Fixed, versioned selections of architectures from the NAS benchmarks. Splits "
               "with results have their own page; the leaderboard's home table shows one "
               "column group per split with results.\n")
    indicative = set(site.coll.indicative_splits())
    rows = []
    for name in split_names():
        sp = load_split(name)
        n_res = len(site.coll.of_split(name))
        title = fmt.nowrap(f"[{name}]({link(SPLITS_INDEX, split_page(name))})"
                           if name in scored else name)
        about = fmt.esc(sp.description)
        if name in indicative:
            about += (" *Indicative:* not a column of the board; `python -m leaderboard "
                      "preview` ranks your result on it among these.")
        rows.append([title, fmt.esc(sp.benchmark), fmt.esc(sp.dataset), str(len(sp)),
                     str(n_res), about])
    out.append(fmt.table(["Split", "Benchmark", "Dataset", "N", "Results", "Description"],
                         rows, ["left", "left", "left", "right", "right", "left"]))
    return "\n".join(out)


def render_estimators_index(site: Site) -> str:
    """Markdown of ``docs/estimators/index.md``: every estimator with results."""
    # Full width (no side bars): the table against published figures has ten columns.
    out = [fmt.generated_header("Estimators", site.results_label, hide=("navigation", "toc")),
           "# Estimators\n"]
    names = site.coll.estimators()
    if not names:
        out.append("No estimator has results yet.\n")
        return "\n".join(out)
    against = published.section(site, ESTIMATORS_INDEX)
    out.append("Every estimator with results, by name. Its page has every metric per split "
               "and seed, the bias analysis, the cost and plots."
               + (f" [Below the list](#{published.ANCHOR}), the figures from the literature "
                  "they cite, beside ours.\n" if against else "\n"))
    rows = []
    for name in names:
        meta = site.coll.estimator_meta(name)
        paper = meta.get("paper")
        paper_md = fmt.paper_link(paper, fmt.MISSING)
        # Each name kept whole: the list breaks after a comma, never inside a split name.
        splits = ", ".join(fmt.nowrap(fmt.esc(s)) for s in site.coll.of_estimator(name))
        rows.append([f"[{fmt.esc(name)}]({link(ESTIMATORS_INDEX, estimator_page(name))})",
                     fmt.nowrap(fmt.esc(meta["kind"])), fmt.esc(meta["idea"]), paper_md,
                     splits])
    out.append(fmt.table(["Estimator", "Kind", "Idea", "Paper", "Splits"], rows))
    if against:
        out.append(against)
    return "\n".join(out)
