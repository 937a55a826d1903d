"""The home page: the ranked table of all estimators over every benchmark split present."""

from __future__ import annotations

import math
import statistics
from numbers import Real

from leaderboard import fmt, published
from leaderboard.cells import (
    COST_TIP,
    MeanTauUncertainty,
    bootstrap,
    cost_model,
    group_cell,
    mean_tau_uncertainty,
    missing_cell,
    rank_groups_for,
    seed_coverage,
    seeds_phrase,
    status_legend,
    status_mark,
    tau_cell,
)
from leaderboard.collect import MIN_SEEDS, Row, benchmark_splits
from leaderboard.site import Site, estimator_page, link, split_page
from leaderboard.tables import Cell, Column, Table, to_site

PAGE = "index.md"
#: The home table as CSV (under docs/; written by the build, linked from the page).
CSV = "downloads/leaderboard.csv"
#: The table across the benchmarks as numbers (under docs/; written by the build when the
#: page shows that table, linked under it).
ACROSS_CSV = "downloads/across-benchmarks.csv"
#: The τ heatmap of every estimator on every split (under docs/).
HEATMAP = "img/home/tau-heatmap.svg"


def mean_tau_cell(row: Row, splits: list[str],
                  ci: dict[str, float | None] | None = None) -> Cell:
    """Mean of τ over the benchmark splits (:func:`~leaderboard.collect.benchmark_splits`);
    ``k/n`` after it when only k of n have a τ; ``ci``, the mean's 95 % interval where one
    was computed (:func:`~leaderboard.cells.mean_tau_uncertainty`), on hover."""
    used = [s for s in benchmark_splits(splits)
            if s in row.cells and row.cells[s].mean("kendall") is not None]
    if not used:
        return Cell(fmt.MISSING, title="no τ on any benchmark split")
    value = sum(float(row.cells[s].mean("kendall")) for s in used) / len(used)
    n = len(benchmark_splits(splits))
    note = f"{len(used)}/{n}" if len(used) < n else ""
    return Cell(fmt.num(value), note=note,
                title=f"mean of τ = {fmt.num(value, 4)} over {', '.join(used)}"
                + _ci_phrase(ci))


def _ci_phrase(ci: dict[str, float | None] | None) -> str:
    if ci is None or ci.get("lo") is None:
        return ""
    return (f"; 95 % CI [{fmt.num(ci['lo'])}, {fmt.num(ci['hi'])}] (stratified bootstrap "
            "over each split's architectures)")


def findings(site: Site, splits: list[str]) -> list[str]:
    """Sentences computed from the results (none written by hand): who is best across the
    benchmarks among estimators scored on all of them, where the ``params`` baseline stands
    against the zero-shot estimators (the paper's headline comparison), whether the best on
    one split stays best, seed against architecture variance, and how many published
    figures lie inside our intervals."""
    bench = benchmark_splits(splits)
    if not bench:
        return []

    def mean_tau(row: Row) -> float | None:
        vals = [row.cells[s].mean("kendall") for s in bench if s in row.cells]
        if len(vals) < len(bench) or any(v is None for v in vals):
            return None
        return sum(float(v) for v in vals) / len(vals)

    full = {r.name: (r, t) for r in site.home_rows if (t := mean_tau(r)) is not None}
    out = []
    where = (f"the {len(bench)} benchmark splits ({', '.join(bench)})" if len(bench) > 1
             else f"{bench[0]}")
    if full:
        best, (row, tau) = max(full.items(), key=lambda kv: kv[1][1])
        ci_text, peers_text = _lead_phrases(
            best, mean_tau_uncertainty(cross_benchmark_rows(site, splits)[0], bench))
        out.append(f"Of the {len(full)} estimators scored on all of {where}, the best mean "
                   f"Kendall τ is **{fmt.esc(best)}** ({row.kind}, {fmt.num(tau)}{ci_text})"
                   f"{peers_text}.")
    zs = {n: t for n, (r, t) in full.items() if r.kind == "zero-shot"}
    if "params" in full and zs:
        p_tau = full["params"][1]
        beaten = sum(t < p_tau for t in zs.values())
        out.append(f"The parameter count alone (`params`, mean τ {fmt.num(p_tau)}) beats "
                   f"{beaten} of the {len(zs)} zero-shot estimators scored on all of them.")
    out.extend(transfer_finding(full, bench))
    out.extend(variance_finding(site, bench))
    partial = [r.name for r in site.home_rows if r.name not in full
               and any(s in r.cells for s in bench)]
    if partial and full:
        out.append(f"{len(partial)} more have results on only some of these splits and are "
                   "left out of this comparison.")
    # Last: it is about the literature, and "this comparison" above means the benchmarks'.
    out.extend(published.finding(site, PAGE))
    return out


def _lead_phrases(best: str, sure: MeanTauUncertainty) -> tuple[str, str]:
    """How sure the lead is: the best one's interval (to go inside its parentheses) and who
    shares its rank group (to follow them); empty where no group was computed."""
    if best not in sure.groups:
        return "", ""
    ci = sure.intervals[best]
    ci_text = (f"; 95 % CI [{fmt.num(ci['lo'])}, {fmt.num(ci['hi'])}]"
               if ci.get("lo") is not None else "")
    link_text = "([rank groups](#across-the-benchmarks))"
    peers = sorted(n for n, g in sure.groups.items() if g == sure.groups[best] and n != best)
    if not peers:
        return ci_text, (", ahead of every other one by a paired bootstrap of the mean τ "
                         + link_text)
    return ci_text, (", but a paired bootstrap of the mean τ cannot tell it apart from "
                     + ", ".join(f"**{fmt.esc(n)}**" for n in peers) + " " + link_text)


def transfer_finding(full: dict[str, tuple[Row, float]], bench: list[str]) -> list[str]:
    """Whether the best estimator on the first benchmark split stays best on the others.

    Args:
        full: estimator → (row, mean τ over ``bench``), for rows with a τ on every split.
        bench: the benchmark splits, the ranking split first.

    Returns:
        One sentence, or none with fewer than two splits or two estimators.
    """
    if len(bench) < 2 or len(full) < 2:
        return []
    first = bench[0]
    best = max(full, key=lambda n: (float(full[n][0].cells[first].mean("kendall")), n))
    row, mean = full[best]
    # Rank among the same estimators by mean τ; equal means share the better rank.
    rank = 1 + sum(t > mean for _, t in full.values())
    taus = {s: float(row.cells[s].mean("kendall")) for s in bench}
    worst = min(bench, key=lambda s: (taus[s], s))
    head = (f"On {first} alone the best of them is **{fmt.esc(best)}** "
            f"(τ {fmt.num(taus[first])}); ")
    if rank == 1:
        return [head + "it is also the best across the benchmarks (lowest τ "
                f"{fmt.num(taus[worst])}, on {worst})."]
    return [head + f"by mean τ over the benchmarks it ranks {rank} of {len(full)}, and its τ "
            f"on {worst} is {fmt.num(taus[worst])}: a rank on one search space need not "
            "carry over to another."]


def variance_finding(site: Site, bench: list[str]) -> list[str]:
    """How much the seed moves τ, next to how much resampling the architectures does.

    Over the results of zero-shot and one-shot estimators (baselines such as ``params`` do not
    depend on the seed) on the benchmark splits that hold at least :data:`MIN_SEEDS` seeds and
    the bootstrap samples of τ: the median of the seed std of τ and the median of the std of
    the bootstrap replicates (resampling the split's architectures with replacement; the
    spread behind the 95 % interval).

    Returns:
        One sentence, or none when no result qualifies.
    """
    seed_sd, boot_sd = [], []
    for row in site.home_rows:
        if row.kind == "baseline":
            continue
        for split in bench:
            res = row.cells.get(split)
            if res is None or len(res.seeds) < MIN_SEEDS:
                continue
            sd = res.std("kendall")
            samples = (bootstrap(res) or {}).get("kendall_samples")
            if not isinstance(sd, Real) or not isinstance(samples, list):
                continue
            values = [float(v) for v in samples if isinstance(v, Real) and math.isfinite(v)]
            if len(values) < 2:
                continue
            seed_sd.append(float(sd))
            boot_sd.append(statistics.stdev(values))
    if not seed_sd:
        return []
    a, b = statistics.median(seed_sd), statistics.median(boot_sd)
    which = ("the architectures a split happens to hold, more than the seed, limit how sure a "
             "τ is" if b > a else "the seed, more than the architectures a split happens to "
             "hold, limits how sure a τ is")
    return [f"Over the {len(seed_sd)} zero-shot and one-shot results with {MIN_SEEDS} or more "
            f"seeds on these splits, the seed moves τ by a median std of {fmt.num(a)}, while "
            "resampling the architectures (the bootstrap behind the 95 % intervals) moves it "
            f"by a median std of {fmt.num(b)}: {which}."]


def cross_benchmark_rows(site: Site, splits: list[str]) -> tuple[list[tuple[Row, float]],
                                                                  list[Row]]:
    """Rows with a usable τ on every benchmark split
    (:func:`~leaderboard.collect.benchmark_splits`), best mean τ first, and the rows with
    results on only some of them (by name).

    A row takes part when each of those splits holds a result without issues (current
    version, contract kept, no failed scores); its mean τ is the plain mean over the splits.
    """
    bench = benchmark_splits(splits)
    complete, partial = [], []
    for row in site.home_rows:
        usable = [s for s in bench if s in row.cells
                  and row.cells[s].mean("kendall") is not None
                  and not any(i.startswith(f"{s}: ") or i.endswith(f"on {s}")
                              for i in row.issues)]
        if len(usable) == len(bench):
            tau = sum(float(row.cells[s].mean("kendall")) for s in bench) / len(bench)
            complete.append((row, tau))
        elif any(s in row.cells for s in bench):
            partial.append(row)
    complete.sort(key=lambda rt: (-rt[1], rt[0].name))
    return complete, sorted(partial, key=lambda r: r.name)


def cross_benchmark_table_model(site: Site, splits: list[str]) -> Table:
    """Estimators scored on every benchmark, ranked by mean τ over the benchmarks."""
    bench = benchmark_splits(splits)
    primary = splits[0]
    cols = [Column(Cell("#", title="rank by mean Kendall τ over the benchmarks")),
            Column(Cell("Estimator"), "left"), Column(Cell("Kind"), "left"),
            Column(Cell("Mean τ", title="mean of τ over " + ", ".join(bench)
                                        + "; hover a value for its 95 % CI")),
            Column(Cell("Group", title="rank group by mean τ: estimators whose mean τ a "
                                       "paired bootstrap cannot tell apart share a group")),
            Column(Cell("Worst τ", title="the lowest τ of the benchmarks: how far the "
                                         "estimator can be trusted on an unseen space"))]
    cols += [Column(Cell(s, title=f"Kendall τ on {s}, mean over seeds; hover for its CI",
                         href=split_page(s))) for s in bench]
    cols.append(Column(Cell("s/arch", title=f"{COST_TIP}; on {primary}")))
    table = Table(cols, legend=(
        "Mean τ: Kendall τ averaged over one split per benchmark; only estimators with a "
        "usable result on every one take part. Group: rank group by mean τ (a paired, "
        "stratified bootstrap of the difference of mean τ cannot separate members; — = not "
        "computed). Worst τ: the lowest of them."))
    for row, rec in _across(site, splits):
        res = row.cells.get(primary)
        groups = {row.name: rec["group"]} if rec["group"] is not None else {}
        table.rows.append(
            [Cell(str(rec["rank"])), Cell(row.name, href=estimator_page(row.name)),
             Cell(row.kind, nowrap=True),
             _mean_tau_cell(rec["mean_kendall"], {"lo": rec["mean_kendall_ci_low"],
                                                  "hi": rec["mean_kendall_ci_high"]}),
             group_cell(row.name, groups, what="mean τ"), Cell(fmt.num(rec["worst_kendall"]))]
            + [tau_cell(row.cells[s]) for s in bench]
            + [cost_model(res) if res is not None else missing_cell(row, primary)])
    return table


#: Columns of :func:`cross_benchmark_records` (the table across the benchmarks as numbers).
ACROSS_COLUMNS = ("rank", "estimator", "kind", "mean_kendall", "mean_kendall_ci_low",
                  "mean_kendall_ci_high", "group", "worst_kendall", "splits")


def cross_benchmark_records(site: Site, splits: list[str]) -> list[dict]:
    """The table across the benchmarks as numbers, one record per row, in its order: mean τ
    with its 95 % interval and rank group (``None`` where not computed), worst τ, and τ on
    each benchmark split under ``kendall_<split>`` (see :func:`across_columns`)."""
    return [rec for _, rec in _across(site, splits)]


def _across(site: Site, splits: list[str]) -> list[tuple[Row, dict]]:
    """Each row of the table across the benchmarks with its record (the one computation
    behind the table, its CSV and the estimator pages); equal mean τ share a rank."""
    bench = benchmark_splits(splits)
    complete, _ = cross_benchmark_rows(site, splits)
    sure = mean_tau_uncertainty(complete, bench)
    out, rank, last = [], 0, None
    for i, (row, tau) in enumerate(complete):
        if tau != last:
            rank, last = i + 1, tau
        taus = {s: float(row.cells[s].mean("kendall")) for s in bench}
        ci = sure.intervals.get(row.name, {})
        out.append((row, {"rank": rank, "estimator": row.name, "kind": row.kind,
                          "mean_kendall": tau, "mean_kendall_ci_low": ci.get("lo"),
                          "mean_kendall_ci_high": ci.get("hi"),
                          "group": sure.groups.get(row.name),
                          "worst_kendall": min(taus.values()), "splits": " ".join(bench),
                          **{f"kendall_{s}": t for s, t in taus.items()}}))
    return out


def across_columns(splits: list[str]) -> tuple[str, ...]:
    """:data:`ACROSS_COLUMNS` and one ``kendall_<split>`` column per benchmark split."""
    return ACROSS_COLUMNS + tuple(f"kendall_{s}" for s in benchmark_splits(splits))


def shows_across(site: Site, splits: list[str]) -> bool:
    """Whether the page shows the table across the benchmarks (two or more benchmarks, and
    an estimator with a usable result on each): then the build writes :data:`ACROSS_CSV`."""
    return len(benchmark_splits(splits)) >= 2 and bool(cross_benchmark_rows(site, splits)[0])


def _mean_tau_cell(tau: float, ci: dict[str, float | None] | None) -> Cell:
    """Mean τ, with its 95 % interval on hover where one was computed."""
    return Cell(fmt.num(tau), title=f"mean τ = {fmt.num(tau, 4)}" + _ci_phrase(ci))


def home_table_model(site: Site, splits: list[str]) -> Table:
    """The compact home table: one row per estimator (see :func:`render` for the legend)."""
    primary = splits[0] if splits else ""
    groups = rank_groups_for(site.home_rows, primary) if primary else {}
    # The same interval as the table across the benchmarks (rows with every benchmark).
    intervals = mean_tau_uncertainty(cross_benchmark_rows(site, splits)[0],
                                     benchmark_splits(splits)).intervals
    cols = [
        Column(Cell("#", title=f"rank by mean Kendall τ on {primary} (equal τ share a rank)")),
        Column(Cell("Estimator"), "left"),
        Column(Cell("Kind"), "left"),
        Column(Cell("Status", title=status_legend()), "center"),
    ]
    for split in splits:
        tip = f"Kendall τ on {split}, mean over seeds; hover a value for its CI"
        if split == primary:
            tip += " (the ranking split)"
        cols.append(Column(Cell(split, title=tip, href=split_page(split))))
    cols += [
        Column(Cell("Mean τ", title="mean of τ over the benchmarks, one split each: "
                                    + ", ".join(benchmark_splits(splits)))),
        Column(Cell("Group", title=f"rank group on {primary}: estimators whose τ a paired "
                                   "bootstrap cannot tell apart share a group")),
        Column(Cell("s/arch", title=f"{COST_TIP}; on {primary}")),
    ]
    table = Table(cols, legend=(
        f"Split columns: Kendall τ between score and true accuracy, mean over seeds. Mean τ: "
        f"mean over the benchmarks, one split each (k/n: only k of the n have a τ). Group: rank "
        f"group on {primary} (a paired bootstrap of the τ difference cannot separate members; "
        f"— = not computed). s/arch: seconds per architecture on {primary}: the estimator "
        f"alone (standalone, one thread, median of 20 cells) where measured, else its scoring "
        f"run's median, joint† when scored with other estimators (shared passes charged to "
        f"one), ‡ when measured on earlier code of the same version. Status: "
        f"{status_legend()}. n/a: the estimator does not apply; —: no result."))
    for row in site.home_rows:
        cells = [Cell(str(row.rank) if row.rank is not None else fmt.MISSING),
                 Cell(row.name + (" ★" if row.name in site.local else ""),
                      href=estimator_page(row.name),
                      title="your local result (leaderboard preview), not committed"
                      if row.name in site.local else ""), Cell(row.kind, nowrap=True),
                 status_mark(row)]
        for split in splits:
            res = row.cells.get(split)
            cells.append(tau_cell(res) if res is not None else missing_cell(row, split))
        cells.append(mean_tau_cell(row, splits, intervals.get(row.name)))
        cells.append(group_cell(row.name, groups))
        res = row.cells.get(primary)
        cells.append(cost_model(res) if res is not None else missing_cell(row, primary))
        table.rows.append(cells)
    return table


def home_table(site: Site, splits: list[str], page: str = PAGE) -> str:
    """:func:`home_table_model` as site Markdown, in the wrapper the stylesheet styles."""
    # The wrapper gives the table a class for the stylesheet (md_in_html).
    return (f'<div class="lb-board lb-home" markdown>\n\n'
            f"{to_site(home_table_model(site, splits), page)}\n</div>\n")


def legend(site: Site, splits: list[str]) -> str:
    """What the columns mean, once, below the table (seed coverage included)."""
    primary = splits[0]
    means = ", ".join(benchmark_splits(splits))
    return (
        "**Reading the table.** A split column holds Kendall τ between score and true accuracy, "
        "mean over the result's seeds; hover a value for four decimals, the seeds, the seed "
        "standard deviation and the 95 % confidence interval (percentile bootstrap over the "
        "split's architectures, where the result stores one). "
        f"*Mean τ* averages τ over the benchmarks, one split each ({means}); *k/n* after it "
        "means only k of the n have a τ. "
        f"*Group*: the {site.ref('metrics', PAGE, 'rank group')} on {primary}; estimators in "
        "one group cannot be told apart by a paired bootstrap of the τ difference (— = no "
        "bootstrap samples stored, or unranked). "
        f"*s/arch*: seconds per architecture on {primary}, with the device type: the "
        "estimator's standalone cost where measured (alone, one thread, its own process, "
        "median over 20 fixed cells; hover for the 90th percentile and peak memory), else the "
        "median of its scoring run, marked joint† when it was scored in one run with other "
        "estimators, so shared passes may be charged to another; ‡ marks a standalone cost "
        "measured on earlier code of the estimator's version (a later speed-up or memory fix "
        "kept its scores, so the figure may be out of date). "
        f"*Status*: {status_legend()}. A second split of a benchmark already counted (the "
        "full space, the de-isomorphic split) is a column of its own, but a gap there leaves "
        "the status as it is. n/a = the estimator does not apply to that split; "
        "— = no result. Every metric (ρ, P@K, BR@K, nDCG@K, …) is on each split's page.\n\n"
        f"**Seeds.** {seed_coverage(site.home_rows, splits)} The protocol asks for "
        f"{MIN_SEEDS} seeds; a row with fewer on one of the benchmark splits ({means}) is "
        "provisional. Where a result has one seed, the other two have not fitted the CPU "
        f"budget yet ({site.ref('compute-plan', PAGE, 'the compute plan')} says what is "
        "scheduled).\n")


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


def cross_benchmark_section(site: Site, splits: list[str]) -> str:
    """The paper's question first: which estimators rank well on every benchmark (empty with
    fewer than two benchmarks)."""
    bench = benchmark_splits(splits)
    if len(bench) < 2:
        return ""
    complete, partial = cross_benchmark_rows(site, splits)
    out = ["## Across the benchmarks\n",
           f"Estimators with a usable result on all {len(bench)} benchmarks "
           f"({', '.join(bench)}), ranked by their mean Kendall τ (hover a value for its 95 % "
           "interval). Estimators in one *Group* cannot be told apart by a paired bootstrap of "
           f"the mean τ ({site.ref('metrics', PAGE, 'how')}); *Worst τ* is the lowest τ of "
           "the benchmarks. An estimator that ranks well on one space and poorly on another is "
           "not a safe choice for a new one.\n"]
    if complete:
        out.append(to_site(cross_benchmark_table_model(site, splits), PAGE))
        out.append(f"[Download this table as data (CSV)]({link(PAGE, ACROSS_CSV)}): mean τ "
                   "with its 95 % interval and rank group, worst τ and τ on each benchmark, as "
                   "numbers · for a paper: `python -m leaderboard export --across --format "
                   "latex`.\n")
    else:
        out.append("_No estimator has a usable result on every benchmark yet._\n")
    if partial:
        names = ", ".join(
            f"[{fmt.esc(r.name)}]({link(PAGE, estimator_page(r.name))}) "
            f"({sum(s in r.cells for s in bench)}/{len(bench)})" for r in partial)
        out.append(f"Not on all of them yet (left out of this ranking; see the ranking on "
                   f"{bench[0]} below): {names}.\n")
    return "\n".join(out)


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
        found = findings(site, splits)
        if found:
            out.append("!!! abstract \"Findings (computed from the results at build time)\"\n")
            out.append("\n".join(f"    - {line}" for line in found) + "\n")
        out.append(cross_benchmark_section(site, splits))
        out.append("## Ranking\n")
        out.append(
            f"Ranked by **mean Kendall τ on [{primary}]({link(PAGE, split_page(primary))})** "
            f"(higher is better; mean over {seeds_phrase(primary_results)}; equal τ share a "
            f"rank). {n_ranked} of {len(site.home_rows)} estimators are ranked: a row is "
            f"ranked when it has a current result on {primary} that kept the estimator "
            "contract with no failed scores. Click a column header to sort; hover over a "
            "value or a mark for details.\n")
        out.append(home_table(site, splits))
        out.append(f"[Download the results as data (CSV)]({link(PAGE, CSV)}): one row per "
                   "estimator and split, τ with its seed std and 95 % interval, the other "
                   "criteria, seeds and cost as numbers · this table for a paper: `python -m "
                   "leaderboard export --format latex` (or `markdown`; `--split NAME` for a "
                   "split's full table).\n")
        out.append(legend(site, splits))
        if site.home_images.get("heatmap"):
            out.append("## τ across benchmarks\n")
            out.append(f"![Kendall τ of every estimator on every benchmark split]"
                       f"({link(PAGE, site.home_images['heatmap'])})\n")
            out.append("Kendall τ (mean over seeds) of each estimator, in table order, on each "
                       "split; blank = no result or not applicable.\n")
    unscored = coll.unscored()
    if unscored:
        out.append("\n## Not yet scored\n")
        out.append("Registered estimators without results in "
                   f"`{fmt.esc(site.results_label)}`: "
                   + ", ".join(f"`{n}`" for n in unscored) + ".\n")
    return "\n".join(part for part in out if part)
