"""One page per benchmark split (description, ground truth, every estimator on it), plus the
index pages of the two generated sections."""

from __future__ import annotations

import numpy as np

from harness.splits import load_split, split_names
from leaderboard import fmt
from leaderboard.collect import rank_rows
from leaderboard.home import cost_cell, seeds_phrase, status_cell
from leaderboard.site import Site, estimator_page, link, split_page

SPLITS_INDEX = "splits/index.md"
ESTIMATORS_INDEX = "estimators/index.md"

COLUMNS: tuple[tuple[str, str], ...] = (
    ("kendall", "Kendall τ"), ("spearman", "Spearman ρ"), ("pearson", "Pearson r"),
    ("p_top_5", "P@top 5 %"), ("p_top_10", "P@top 10 %"), ("br_5", "BR@5 % ↓"),
    ("wr_5", "WR@5 % ↓"),
)


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
    rows = rank_rows(site.coll, [split], split)
    headers = (["#", "Estimator", "Kind", "Status"] + [title for _, title in COLUMNS]
               + ["Seeds", "s/arch"])
    body = []
    for row in rows:
        res = row.cells.get(split)
        cells = [str(row.rank) if row.rank is not None else fmt.MISSING,
                 f"[{fmt.esc(row.name)}]({link(page, estimator_page(row.name))})",
                 fmt.esc(row.kind), status_cell(row)]
        if res is None:
            reason = row.not_applicable.get(split, "no result")
            cells += [fmt.tip("n/a", reason)] * (len(COLUMNS) + 2)
        else:
            cells.append(fmt.pm(res.mean("kendall"), res.std("kendall")))
            cells += [fmt.num(res.mean(key)) for key, _ in COLUMNS[1:]]
            cells += [str(len(res.seeds)), cost_cell(res)]
        body.append(cells)
    align = ["right", "left", "left", "left"] + ["right"] * (len(COLUMNS) + 2)
    intro = (f"Ranked by mean Kendall τ on this split (mean over "
             f"{seeds_phrase(list(results.values()))}); incomplete results are listed after "
             "the ranked ones, unranked. ↓ = lower is better.\n")
    return (f'{intro}\n<div class="lb-board" markdown>\n\n{fmt.table(headers, body, align)}'
            '\n</div>\n')


def render(site: Site, split: str) -> str:
    """Markdown of ``docs/splits/<split>.md``."""
    page = split_page(split)
    sp = load_split(split)
    out = [fmt.generated_header(split, site.results_label), f"# {split}\n"]
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
    rows = []
    for name in split_names():
        sp = load_split(name)
        n_res = len(site.coll.of_split(name))
        title = f"[{name}]({link(SPLITS_INDEX, split_page(name))})" if name in scored else name
        rows.append([title, fmt.esc(sp.benchmark), fmt.esc(sp.dataset), str(len(sp)),
                     str(n_res), fmt.esc(sp.description)])
    out.append(fmt.table(["Split", "Benchmark", "Dataset", "N", "Results", "Description"],
                         rows, ["left", "left", "left", "right", "right", "left"]))
    return "\n".join(out)


def render_estimators_index(site: Site) -> str:
    """Markdown of ``docs/estimators/index.md``: every estimator with results."""
    out = [fmt.generated_header("Estimators", site.results_label), "# Estimators\n"]
    names = site.coll.estimators()
    if not names:
        out.append("No estimator has results yet.\n")
        return "\n".join(out)
    out.append("Every estimator with results, by name. Its page has every metric per split "
               "and seed, the bias analysis, the cost and plots.\n")
    rows = []
    for name in names:
        meta = site.coll.estimator_meta(name)
        paper = meta.get("paper")
        paper_md = f"[{fmt.esc(paper['title'])}]({paper['url']})" if paper else fmt.MISSING
        splits = ", ".join(site.coll.of_estimator(name))
        rows.append([f"[{fmt.esc(name)}]({link(ESTIMATORS_INDEX, estimator_page(name))})",
                     fmt.esc(meta["kind"]), fmt.esc(meta["idea"]), paper_md, fmt.esc(splits)])
    out.append(fmt.table(["Estimator", "Kind", "Idea", "Paper", "Splits"], rows))
    return "\n".join(out)
