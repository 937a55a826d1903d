"""Cells the leaderboard tables share: τ with its confidence interval, cost, the status mark,
the rank group, and the phrases that describe seeds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np

from harness.uncertainty import interval as percentile_interval
from harness.uncertainty import mean_over_splits, rank_groups
from leaderboard import fmt
from leaderboard.collect import Result, Row, cost_code_changed
from leaderboard.tables import Cell, site_cell

#: Status marks of a row (shown with the reasons as a tooltip; explained in the legend).
MARK_COMPLETE, MARK_PROVISIONAL, MARK_INCOMPLETE = "✓", "◐", "⚠"

COST_TIP = ("seconds per architecture and the device type: the standalone cost (the "
            "estimator alone, one thread) where measured, else the scoring run's median "
            "(hover a value for the machine); joint† = scored in one run with other "
            "estimators, sharing passes; ‡ = measured on earlier code of the same version")


def bootstrap(res: Result) -> dict | None:
    """The result's ``metrics.bootstrap`` block when it is present and well formed."""
    boot = res.metrics.get("bootstrap")
    if not isinstance(boot, dict) or not isinstance(boot.get("kendall"), dict):
        return None
    return boot


def ci(res: Result, key: str = "kendall") -> tuple[float, float] | None:
    """The stored 95 % bootstrap interval of ``key`` (``kendall`` or ``spearman``), if any."""
    boot = bootstrap(res)
    interval = (boot or {}).get(key)
    if not isinstance(interval, dict):
        return None
    lo, hi = interval.get("lo"), interval.get("hi")
    if isinstance(lo, Real) and isinstance(hi, Real):
        return float(lo), float(hi)
    return None


def ci_text(res: Result, key: str = "kendall") -> str:
    """``[lo, hi]`` with 3 decimals, ``—`` without an interval."""
    interval = ci(res, key)
    return fmt.MISSING if interval is None else f"[{fmt.num(interval[0])}, {fmt.num(interval[1])}]"


def _level(res: Result) -> str:
    boot = bootstrap(res) or {}
    level = boot.get("level", 0.95)
    return f"{100 * level:g} %" if isinstance(level, Real) else "95 %"


def tau_tooltip(res: Result) -> str:
    """τ to 4 decimals, its seeds and seed std, and its bootstrap interval (or its absence)."""
    mean, std = res.mean("kendall"), res.std("kendall")
    seeds = ", ".join(str(s) for s in res.seeds)
    text = (f"Kendall τ = {fmt.num(mean, 4)}, mean over {len(res.seeds)} seed(s) ({seeds})"
            + (f", seed std {fmt.num(std, 4)}" if std is not None else ""))
    interval = ci(res)
    if interval is None:
        return text + "; no bootstrap interval in this result"
    boot = bootstrap(res) or {}
    return (text + f"; {_level(res)} CI [{fmt.num(interval[0], 4)}, {fmt.num(interval[1], 4)}] "
            f"(percentile bootstrap over architectures, {boot.get('n_resamples', '?')} "
            "resamples)")


def tau_cell(res: Result) -> Cell:
    """τ (3 decimals); the seeds, seed std and CI on hover."""
    return Cell(fmt.num(res.mean("kendall")), title=tau_tooltip(res))


def cost_model(res: Result) -> Cell:
    """Seconds per architecture with the device type: the standalone cost where measured
    (``python -m harness cost``), else the scoring run's (marked joint† when shared passes may
    have been charged to another estimator); details on hover."""
    cost, env = res.obj["cost"], res.obj["environment"]
    note = str(cost["device"])
    when = str(env.get("date", ""))[:10]
    title = f"scored on {res.scored_in()}, {when}"
    joint = cost.get("joint_with") or []
    if cost.get("mode") == "joint" and joint:
        # In a joint run a shared pass is charged to the first estimator that asked for it,
        # so the others' seconds look far cheaper than the estimator alone costs: say so.
        note += " joint†"
        title += (f"; scored in one run with {', '.join(joint)}: a pass they share is charged "
                  "to the first that asked for it, so this is not the cost of running it alone")
    training = cost.get("training")
    if training:
        # A one-shot estimator's cost is its training amortised over the ranked architectures
        # plus its scoring: both parts shown.
        total = training["cpu_s_per_arch"] + cost["wall_s_per_arch_median"]
        note += f" = {fmt.seconds(training['cpu_s_per_arch'])} train + " \
                f"{fmt.seconds(cost['wall_s_per_arch_median'])} score"
        title += (f"; training: {training['cpu_s_per_run'] / 3600:.2f} CPU-h per supernet "
                  f"({training['epochs']} epochs, {training['runs']} seed(s)) amortised over "
                  f"{training['n_archs']} architectures, plus the scoring seconds")
        return Cell(fmt.seconds(total), note=note, title=title)
    sa = res.standalone
    if sa is not None:
        # The estimator alone, one thread, on fixed cells of the split: what a user pays.
        scored = f"{fmt.seconds(cost['wall_s_per_arch_median'])} s/arch in its scoring run"
        if cost.get("mode") == "joint" and joint:
            scored += f" (jointly with {', '.join(joint)}: shared passes charged to one)"
        env = sa.get("environment") or {}
        cpu = f"{env.get('device_name', '?')} ({env.get('capability') or env.get('device_type')})"
        title = (f"standalone: the estimator alone, one thread, median over "
                 f"{len(sa['arch_ids'])} cells of the split (90th percentile "
                 f"{fmt.seconds(sa['s_per_arch_p90'])} s), peak memory "
                 f"{sa['peak_rss_mb']:.0f} MB; measured {str(sa['measured_at'])[:10]} on "
                 f"{cpu}; {scored}")
        note = str(cost["device"])
        if cost_code_changed(res):
            # Same version, so the same scores, but the code that costs the time and memory
            # has changed since (a speed-up, a memory fix): the figure may no longer hold.
            note += " ‡"
            title += ("; ‡ measured on earlier code of this version: the estimator's code has "
                      "changed since, so this may no longer be its cost (re-measure with "
                      "python -m harness cost --missing)")
        return Cell(fmt.seconds(sa["s_per_arch_median"]), note=note, title=title)
    return Cell(fmt.seconds(cost["wall_s_per_arch_median"]), note=note, title=title)


def cost_cell(res: Result, page: str = "index.md") -> str:
    """:func:`cost_model` as site Markdown (for the pages that are not tables of records)."""
    return site_cell(cost_model(res), page)


def status_mark(row: Row) -> Cell:
    """✓ complete, ◐ provisional (ranked, with a shortfall) or ⚠ incomplete; reasons on hover."""
    if row.complete and row.notes:
        return Cell(MARK_PROVISIONAL, title="provisional: " + "; ".join(row.notes))
    if row.complete:
        return Cell(MARK_COMPLETE, title="complete")
    return Cell(MARK_INCOMPLETE, title="incomplete, not ranked: " + "; ".join(row.issues))


def status_legend() -> str:
    return (f"{MARK_COMPLETE} complete; {MARK_PROVISIONAL} provisional (ranked, but a benchmark "
            "split its rank or mean τ rests on has fewer seeds than the protocol's or no "
            f"result); {MARK_INCOMPLETE} incomplete, not ranked (hover the mark for the reason)")


def missing_cell(row: Row, split: str) -> Cell:
    """``n/a`` (does not apply, reason on hover) or ``—`` (no result)."""
    reason = row.not_applicable.get(split)
    return Cell("n/a", title=reason) if reason else Cell(fmt.MISSING, title="no result")


def _pairing_key(boot: dict) -> tuple:
    samples = boot.get("kendall_samples")
    return (boot.get("seed"), boot.get("n_resamples"), boot.get("n_archs"),
            len(samples) if isinstance(samples, list) else None)


def paired_samples(rows: Sequence[Row], split: str, *,
                   ranked_only: bool = True) -> dict[str, np.ndarray]:
    """The bootstrap samples of τ on ``split`` that pair: estimator → ``kendall_samples``.

    Only results that store bootstrap samples take part, and only those drawn on the same
    resamples (same bootstrap seed, number of resamples and architectures: the most common
    setting, ties broken towards the first row), since only those pair. With ``ranked_only``
    (the default) unranked rows are left out.
    """
    boots: dict[str, dict] = {}
    for row in rows:
        res = row.cells.get(split)
        if res is None or (ranked_only and row.rank is None):
            continue
        boot = bootstrap(res)
        if boot is not None and isinstance(boot.get("kendall_samples"), list) \
                and boot["kendall_samples"] and res.mean("kendall") is not None:
            boots[row.name] = boot
    if not boots:
        return {}
    counts = Counter(_pairing_key(b) for b in boots.values())
    first = {}
    for name in boots:  # rows come in rank order
        first.setdefault(_pairing_key(boots[name]), name)
    key = max(counts, key=lambda k: (counts[k], -list(first).index(k)))
    return {n: np.asarray([np.nan if v is None else v for v in b["kendall_samples"]],
                          dtype=np.float64)
            for n, b in boots.items() if _pairing_key(b) == key}


def rank_groups_for(rows: Sequence[Row], split: str) -> dict[str, int]:
    """Rank groups (:func:`harness.uncertainty.rank_groups`) of the ranked rows on ``split``,
    from the samples that pair (:func:`paired_samples`). Rows left out have no group."""
    samples = paired_samples(rows, split)
    point = {n: float(next(r for r in rows if r.name == n).cells[split].mean("kendall"))
             for n in samples}
    return rank_groups(samples, point) if samples else {}


@dataclass(frozen=True)
class MeanTauUncertainty:
    """How sure the mean τ over the benchmarks is (:func:`mean_tau_uncertainty`).

    Attributes:
        intervals: estimator → 95 % percentile interval ``{"lo", "hi"}`` of its mean τ.
        groups: estimator → rank group by mean τ (1 = best).
    """

    intervals: dict[str, dict[str, float | None]]
    groups: dict[str, int]


def mean_tau_uncertainty(rows: Sequence[tuple[Row, float]],
                         splits: Sequence[str]) -> MeanTauUncertainty:
    """Intervals and rank groups of the mean τ over ``splits`` (one per benchmark).

    Each split's architectures are resampled on their own (a stratified bootstrap) and the
    splits' samples are combined by :func:`harness.uncertainty.mean_over_splits`, which keeps
    two estimators' samples paired. Only rows whose samples pair on *every* split take part;
    the others get neither an interval nor a group.

    Args:
        rows: (row, its mean τ over ``splits``), e.g. the complete rows of the table across
            the benchmarks.
        splits: the benchmark splits the mean is over.
    """
    per_split = {s: paired_samples([r for r, _ in rows], s, ranked_only=False) for s in splits}
    # Splits whose numbers of resamples differ cannot be combined sample by sample.
    if len({len(a) for d in per_split.values() for a in d.values()}) != 1:
        return MeanTauUncertainty({}, {})
    means = {row.name: mean_over_splits({s: per_split[s][row.name] for s in splits})
             for row, _ in rows if all(row.name in per_split[s] for s in splits)}
    point = {row.name: tau for row, tau in rows if row.name in means}
    return MeanTauUncertainty({n: percentile_interval(a) for n, a in means.items()},
                              rank_groups(means, point) if means else {})


def group_cell(name: str, groups: dict[str, int], what: str = "τ") -> Cell:
    """The rank group of ``name`` (``what``: the quantity the groups compare)."""
    if name in groups:
        return Cell(str(groups[name]), title=f"rank group {groups[name]}: {what} not told apart "
                                             "from the group's best by a paired bootstrap")
    return Cell(fmt.MISSING, title="no group: unranked, or no bootstrap samples in the result")


def seeds_phrase(results: list[Result]) -> str:
    """``"seeds 20, 2020, 202020"`` if all results share seeds, else a generic phrase."""
    seeds = {tuple(r.seeds) for r in results}
    if len(seeds) == 1:
        (only,) = seeds
        return "seed" + ("s " if len(only) != 1 else " ") + ", ".join(str(s) for s in only)
    return "each result's seeds"


def seed_coverage(rows: Sequence[Row], splits: Sequence[str]) -> str:
    """One sentence per split: which seeds, for how many estimators (most common first)."""
    parts = []
    for split in splits:
        counts = Counter(tuple(r.cells[split].seeds) for r in rows if split in r.cells)
        if not counts:
            continue
        groups = sorted(counts.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))
        text = "; ".join(
            f"{'seeds' if len(seeds) != 1 else 'seed'} {', '.join(map(str, seeds))} for {n} "
            f"estimator{'s' if n != 1 else ''}" for seeds, n in groups)
        parts.append(f"{split}: {text}")
    return ". ".join(parts) + ("." if parts else "")
