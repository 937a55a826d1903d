"""The home page: the ranked table of all estimators over every benchmark split present."""

from __future__ import annotations

from leaderboard import fmt
from leaderboard.collect import MIN_SEEDS, Result, Row
from leaderboard.site import Site, estimator_page, link, split_page

PAGE = "index.md"

#: (metric key, column title, tooltip) of the per-split columns of the home table.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("kendall", "τ", "Kendall τ between score and true accuracy: mean ± std over seeds"),
    ("spearman", "ρ", "Spearman ρ between score and true accuracy, mean over seeds"),
    ("p_top_5", "P@5%", "P@topK, K = 5 %: fraction of the predicted top 5 % that is in the true "
                        "top 5 % (higher is better), mean over seeds"),
    ("br_5", "BR@5%", "BR@K, K = 5 %: best true rank among the predicted top 5 %, divided by N "
                      "(lower is better), mean over seeds"),
)
COST_TIP = ("median wall-clock seconds per (architecture, seed) and the device it ran on; "
            "joint† = scored in one run with other estimators, sharing passes")


def seeds_phrase(results: list[Result]) -> str:
    """``"seeds 20, 2020, 202020"`` if all results share seeds, else a generic phrase."""
    seeds = {tuple(r.seeds) for r in results}
    if len(seeds) == 1:
        (only,) = seeds
        return "seed" + ("s " if len(only) != 1 else " ") + ", ".join(str(s) for s in only)
    return "each result's seeds"


def metric_cell(res: Result, key: str) -> str:
    if key == "kendall":
        mean, std = res.mean(key), res.std(key)
        text = fmt.num(mean) + (" " + fmt.small("± " + fmt.num(std)) if std is not None else "")
        seeds = ", ".join(str(s) for s in res.seeds)
        return fmt.tip(text, f"mean ± std over {len(res.seeds)} seed(s): {seeds}")
    return fmt.num(res.mean(key))


def cost_cell(res: Result) -> str:
    cost, env = res.obj["cost"], res.obj["environment"]
    text = f"{fmt.seconds(cost['wall_s_per_arch_median'])} {fmt.small(fmt.esc(cost['device']))}"
    when = str(env.get("date", ""))[:10]
    title = f"scored on {res.scored_in()}, {when}"
    joint = cost.get("joint_with") or []
    if cost.get("mode") == "joint" and joint:
        # In a joint run a shared pass is charged to the first estimator that asked for it,
        # so the others' seconds look far cheaper than the estimator alone costs: say so.
        text += " " + fmt.small("joint†")
        title += (f"; scored in one run with {', '.join(joint)}: a pass they share is charged "
                  "to the first that asked for it, so this is not the cost of running it alone")
    return fmt.tip(text, title)


def status_cell(row: Row) -> str:
    if row.complete and row.notes:
        return "✓ provisional<br>" + fmt.small(fmt.esc("; ".join(row.notes)))
    if row.complete:
        return "✓ complete"
    return "⚠ incomplete<br>" + fmt.small(fmt.esc("; ".join(row.issues)))


def home_table(site: Site, splits: list[str], page: str = PAGE) -> str:
    """The main table: one row per estimator, a column group per split."""
    headers = ["#", "Estimator", "Kind", "Status"]
    align = ["right", "left", "left", "left"]
    for split in splits:
        # The group's first column links the split; the others name it in small print.
        first = f"[{fmt.esc(split)}]({link(page, split_page(split))})"
        rest = fmt.small(fmt.esc(split))
        for i, (_, title, tip) in enumerate(COLUMNS):
            headers.append(f"{first if i == 0 else rest}<br>{fmt.tip(title, tip)}")
            align.append("right")
        headers.append(f"{rest}<br>{fmt.tip('s/arch', COST_TIP)}")
        align.append("right")
    body = []
    for row in site.home_rows:
        cells = [str(row.rank) if row.rank is not None else fmt.MISSING,
                 f"[{fmt.esc(row.name)}]({link(page, estimator_page(row.name))})",
                 fmt.esc(row.kind), status_cell(row)]
        for split in splits:
            res = row.cells.get(split)
            if res is None:
                na = row.not_applicable.get(split)
                filler = fmt.tip("n/a", na) if na else fmt.MISSING
                cells += [filler] * (len(COLUMNS) + 1)
                continue
            cells += [metric_cell(res, key) for key, _, _ in COLUMNS]
            cells.append(cost_cell(res))
        body.append(cells)
    # The wrapper gives the table a class for the stylesheet (md_in_html).
    return f'<div class="lb-board" markdown>\n\n{fmt.table(headers, body, align)}\n</div>\n'



def warnings_block(warnings: list[str], results_label: str) -> str:
    if not warnings:
        return ""
    lines = [f'!!! warning "{len(warnings)} problem(s) while reading {fmt.esc(results_label)}"',
             "",
             "    Results files named here could not be used and are left out of every table; "
             "regenerate them with the harness (`pytest harness/ --estimator=NAME`).",
             ""]
    lines += [f"    - {_warning_item(w)}" for w in warnings]
    return "\n".join(lines) + "\n\n"


def _warning_item(warning: str) -> str:
    """``path: message`` with the path as code (other warnings as plain text)."""
    head, sep, rest = warning.partition(": ")
    if sep and head.endswith(".json"):
        return f"{fmt.code(head)}: {fmt.esc(rest)}"
    return fmt.esc(warning)


def render(site: Site) -> str:
    """Markdown of ``docs/index.md``."""
    coll = site.coll
    splits = coll.splits()
    primary = coll.primary_split()
    out = [fmt.generated_header("Leaderboard", site.results_label,
                                hide=("navigation", "toc")),
           "# estbench leaderboard\n"]
    out.append(
        "How well does a cheap score — computed at initialisation, from a one-shot supernet, "
        "or from the architecture alone — rank neural architectures by the accuracy they reach "
        "after full training? Every estimator below was scored by the same harness on fixed "
        "benchmark splits, with the same seeds and batches, and compared with the benchmarks' "
        f"ground truth. {site.ref('submitting', PAGE, 'Submit your own estimator')} with one "
        f"file; {site.ref('metrics', PAGE, 'the metrics')} are defined in the reference.\n")
    out.append(warnings_block(coll.warnings, site.results_label))
    if primary is None:
        out.append("!!! info \"No results yet\"\n\n    There are no results in "
                   f"`{fmt.esc(site.results_label)}` yet. Score an estimator with "
                   "`pytest harness/ --estimator=NAME --split=nb201-c10-1k` and rebuild.\n\n")
    else:
        ranked = [r.cells[primary] for r in site.home_rows if r.rank is not None]
        primary_results = ranked or list(coll.of_split(primary).values())
        n_ranked = sum(r.rank is not None for r in site.home_rows)
        out.append("## Ranking\n")
        out.append(
            f"Ranked by **mean Kendall τ on [{primary}]({link(PAGE, split_page(primary))})** "
            f"(higher is better; mean over {seeds_phrase(primary_results)}; equal τ share a "
            f"rank). {n_ranked} of {len(site.home_rows)} estimators are ranked. Only *complete* "
            f"rows are ranked: a result on {primary}, the estimator contract kept, no "
            "non-finite or failed scores, and results that are current with the estimator's "
            "version and the split file. A rank computed from fewer than "
            f"{MIN_SEEDS} seeds, or of a row without results on some other split it applies "
            "to, is marked *provisional* with the reason. "
            "Incomplete rows follow, unranked and marked ⚠ with the reason. Click a "
            "column header to sort; hover over a value for details.\n")
        out.append(home_table(site, splits))
        out.append("\n**Columns** (per benchmark split): τ = Kendall τ (± std over seeds), "
                   "ρ = Spearman ρ, P@5% = P@topK at K = 5 % of the split, BR@5% = best true "
                   "rank among the predicted top 5 % divided by N (lower is better), s/arch = "
                   "median seconds per architecture and seed, with the device type "
                   "(device name on hover). n/a = the estimator does not apply to that split.\n")
    unscored = coll.unscored()
    if unscored:
        out.append("\n## Not yet scored\n")
        out.append("Registered estimators without results in "
                   f"`{fmt.esc(site.results_label)}`: "
                   + ", ".join(f"`{n}`" for n in unscored) + ".\n")
    return "\n".join(part for part in out if part)
