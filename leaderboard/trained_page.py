"""The page of zero-shot estimators scored on trained supernet weights (the paper's RQ4).

``pytest harness/ --estimator=... --weights=<one-shot estimator>`` builds every network from
that estimator's trained supernet instead of a random initialisation and writes its results to
``leaderboard/results-trained/<source>/`` (a results directory of its own, so they never mix
with the main leaderboard). This page sets each of them next to the same estimator's
random-initialisation result on the same split, from the main results directory.
"""

from __future__ import annotations

from pathlib import Path

from leaderboard import fmt
from leaderboard.cells import cost_cell
from leaderboard.collect import Collection, Result, collect
from leaderboard.site import Site, estimator_page, link, split_page

PAGE = "trained-weights.md"


def collect_trained(trained_dir: Path | None) -> dict[str, Collection]:
    """Weights source (a one-shot estimator) → its collected results; empty if none."""
    if trained_dir is None or not Path(trained_dir).is_dir():
        return {}
    out = {}
    for sub in sorted(p for p in Path(trained_dir).iterdir()
                      if p.is_dir() and not p.name.startswith(".")):
        coll = collect(sub, use_registry=False)
        if coll.results or coll.warnings:
            out[sub.name] = coll
    return out


def _weights_phrase(res: Result) -> str:
    per_seed = res.obj["protocol"].get("weights", {}).get("per_seed") or {}
    parts = []
    for seed, d in sorted(per_seed.items(), key=lambda kv: int(kv[0])):
        if not isinstance(d, dict):
            continue
        parts.append(f"seed {seed}: supernet {fmt.code(d.get('config_hash', '?'))}, epoch "
                     f"{d.get('epoch', '?')} of {d.get('epoch_budget', '?')} "
                     f"({fmt.esc(d.get('sampler', '?'))} sampling, "
                     f"{fmt.esc(d.get('sharing', '?'))} sharing)")
    return "; ".join(parts) or "not recorded"


def _init_metric(init: Result | None, key: str, seeds: list[int]) -> float | None:
    """The init result's metric over the same seeds as the trained one (all of its seeds'
    mean when it lacks one of them)."""
    if init is None:
        return None
    per_seed = init.metrics.get("per_seed", {})
    vals = [per_seed.get(str(s), {}).get(key) for s in seeds]
    if vals and all(isinstance(v, (int, float)) for v in vals):
        return float(sum(vals) / len(vals))
    return init.mean(key)


def _delta(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a - b:+.3f}"


def render(site: Site, trained: dict[str, Collection], source_label: str) -> str:
    """The page: one section per weights source, one row per (estimator, split)."""
    out = [fmt.generated_header("Zero-shot estimators on trained weights (RQ4)",
                                source=source_label, hide=("navigation",))]
    out.append("# Zero-shot estimators on trained weights (RQ4)\n")
    out.append(
        "Ning et al. ask (RQ4) whether a zero-shot estimator ranks better when it is computed "
        "on the weights of a trained one-shot supernet instead of a random initialisation. "
        "Each row below is a harness result with `--weights=<one-shot estimator>`: every "
        "network of the split is extracted from that estimator's trained supernet (chosen by "
        "the same `--estimator-option`s) and scored by the zero-shot estimator as usual. The "
        "*init* columns are the same estimator's result on the same split from the main "
        f"leaderboard ({fmt.code(site.results_label)}), with randomly initialised networks, "
        "over the same seeds (all of its seeds where it lacks one).\n")
    for source, coll in trained.items():
        out.append(f"## Weights from `{source}`\n")
        if coll.warnings:
            out.append("!!! warning \"Unusable files\"\n")
            out += [f"    - {fmt.esc(w)}" for w in coll.warnings]
            out.append("")
        if not coll.results:
            continue
        headers = ["Estimator", "Split", "Seeds", "τ trained", "τ init", "Δτ", "ρ trained",
                   "ρ init", "P@5% trained", "P@5% init", "Cost", "Contract"]
        rows = []
        weights = set()
        for (name, split), res in sorted(coll.results.items()):
            init = site.coll.results.get((name, split))
            est = (f"[{fmt.esc(name)}]({link(PAGE, estimator_page(name))})"
                   if site.coll.of_estimator(name) else fmt.esc(name))
            sp = fmt.nowrap(f"[{fmt.esc(split)}]({link(PAGE, split_page(split))})"
                            if split in site.coll.splits() else fmt.esc(split))
            t, ti = res.mean("kendall"), _init_metric(init, "kendall", res.seeds)
            rows.append([
                est, sp, ", ".join(str(s) for s in res.seeds),
                fmt.num(t), fmt.num(ti), _delta(t, ti),
                fmt.num(res.mean("spearman")), fmt.num(_init_metric(init, "spearman", res.seeds)),
                fmt.num(res.mean("p_top_5")), fmt.num(_init_metric(init, "p_top_5", res.seeds)),
                cost_cell(res),
                "✓" if res.obj.get("contract_ok") else "⚠ " + fmt.esc(
                    "; ".join(res.obj.get("contract_problems", []))),
            ])
            weights.add(_weights_phrase(res))
        out.append("Weights: " + " / ".join(sorted(weights)) + ".\n")
        out.append(fmt.table(headers, rows, ["left", "left", "left"] + ["right"] * 7
                             + ["left", "left"]))
        out.append("")
    return "\n".join(out).rstrip() + "\n"
