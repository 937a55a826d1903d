"""One page per estimator: metadata, every metric per split and seed, bias, cost, plots."""

from __future__ import annotations

import json

from leaderboard import fmt
from leaderboard import home as home_page
from leaderboard.cells import ci_text, cost_cell
from leaderboard.collect import (
    Result,
    Row,
    reproduced_now,
    result_issues,
    result_notes,
    source_changed,
)
from leaderboard.published import Comparison, criterion_label, in_benchmark
from leaderboard.site import Site, estimator_page, link, split_page

#: The hand-written page of the one-shot study (``docs/oneshot.md``), linked from one-shot pages.
ONESHOT_STUDY_PAGE = "oneshot.md"

PLOT_CAPTIONS = {
    "scatter": "Score rank against true-accuracy rank, one point per architecture (rank of the "
               "score per seed, averaged over seeds; failed scores rank last). Points on the "
               "dashed diagonal would be a perfect ranking.",
    "curves": "P@topK (left) and BR@K (right) over K: the line is the mean over seeds, the band "
              "spans the seeds' minimum and maximum; the dashed line is a random ranking's "
              "expectation.",
    "training": "Training curve: the same scoring with the weights of each saved checkpoint "
                "of the training run (harness option --curve); one line per seed.",
    "complexity": "Complexity bias: Kendall τ with the true accuracy inside each quintile of "
                  "parameter count (dashed: overall τ). An estimator that only tracks network "
                  "size ranks well overall but near zero inside a quintile.",
}


def _metadata(site: Site, name: str, page: str) -> str:
    meta = site.coll.estimator_meta(name)
    paper = meta.get("paper")
    paper_md = fmt.paper_link(paper, "none (a trivial baseline)")
    rows = [
        ["Kind", fmt.esc(meta["kind"])],
        ["Idea", fmt.esc(meta["idea"])],
        ["Version", fmt.esc(meta["version"])],
        ["Paper", paper_md],
        ["Source", fmt.code(f"estimators/{name}.py")],
    ]
    cur = (site.coll.registry or {}).get(name)
    if site.coll.registry is not None and cur is None:
        rows.append(["Registry", "⚠ no longer registered (no estimators/" + fmt.esc(name)
                     + ".py)"])
    if meta["kind"] == "one-shot":
        # The board keeps one seed and protocol per one-shot estimator; the study page holds
        # the seeds, curves and comparisons a reader of this page will look for next.
        rows.append(["Study", f"[One-shot estimators]({link(page, ONESHOT_STUDY_PAGE)}): the "
                     "training protocol, three seeds, curves over training, the paper's "
                     "comparisons and its supernet shape"])
    home = next((r for r in site.home_rows if r.name == name), None)
    primary = site.coll.primary_split()
    if home is not None and primary is not None:
        rows.append(["Leaderboard", _rank_text(home, primary, page)])
        across = _across_text(site, name, page)
        if across:
            rows.append(["Across the benchmarks", across])
    return fmt.table(["About", ""], rows)


def _across_text(site: Site, name: str, page: str) -> str:
    """The estimator's place in the home page's table across the benchmarks: rank by mean τ,
    the mean with its 95 % interval, and its rank group (empty where it is not in the table)."""
    splits = site.coll.splits()
    if not home_page.shows_across(site, splits):
        return ""
    records = home_page.cross_benchmark_records(site, splits)
    rec = next((r for r in records if r["estimator"] == name), None)
    if rec is None:
        return ""
    target = f"[mean Kendall τ]({link(page, home_page.PAGE)}#across-the-benchmarks)"
    text = (f"rank {rec['rank']} of {len(records)} by {target} over "
            f"{', '.join(rec['splits'].split())}: {fmt.num(rec['mean_kendall'])}")
    if rec["mean_kendall_ci_low"] is not None:
        text += (f" (95 % CI [{fmt.num(rec['mean_kendall_ci_low'])}, "
                 f"{fmt.num(rec['mean_kendall_ci_high'])}])")
    if rec["group"] is not None:
        text += f", rank group {rec['group']}"
    return text + f"; worst τ {fmt.num(rec['worst_kendall'])}"


def _rank_text(row: Row, primary: str, page: str) -> str:
    target = f"[{primary}]({link(page, split_page(primary))})"
    if row.rank is not None and row.notes:
        return (f"rank {row.rank} by mean Kendall τ on {target} (provisional: "
                + fmt.esc("; ".join(row.notes)) + ")")
    if row.rank is not None:
        return f"rank {row.rank} by mean Kendall τ on {target}"
    return "not ranked: " + fmt.esc("; ".join(row.issues))


def _summary(site: Site, name: str, results: dict[str, Result], page: str) -> str:
    headers = ["Split", "Kendall τ", "Spearman ρ", "P@top 5 %", "BR@5 %", "Seeds", "s/arch",
               "Status"]
    rows = []
    for split in site.coll.splits():
        res = results.get(split)
        if res is None:
            continue
        issues = [] if res.skipped else result_issues(res, site.coll.registry)
        notes = [] if res.skipped else result_notes(res)
        status = "skipped" if res.skipped else (
            "⚠ " + fmt.esc("; ".join(issues)) if issues else
            "✓ provisional: " + fmt.esc("; ".join(notes)) if notes else "✓ complete")
        if not res.skipped and source_changed(res):
            # Same version, other code: scores should not have changed (else the version would
            # be bumped), but a reader may want to know. Edits of docstrings or published
            # figures alone do not count where the result records its code's fingerprint.
            status += " · estimator code changed since it was scored"
        elif not res.skipped and (proof := reproduced_now(res)) is not None:
            status += (f' · <span title="{fmt.esc(proof["evidence"])}, on '
                       f'{fmt.esc(proof["device_name"])}, {fmt.esc(proof["date"][:10])}">'
                       "estimator code changed since, shown to give the same scores</span>")
        rows.append([
            fmt.nowrap(f"[{split}](#{split})"), fmt.pm(res.mean("kendall"), res.std("kendall")),
            fmt.num(res.mean("spearman")), fmt.num(res.mean("p_top_5")),
            fmt.num(res.mean("br_5")), str(len(res.seeds)),
            cost_cell(res), status,
        ])
    align = ["left", "right", "right", "right", "right", "right", "right", "left"]
    return fmt.table(headers, rows, align)


def published_section(site: Site, name: str, results: dict[str, Result]) -> str:
    """The estimator's published figures (from its registration), each beside our mean over
    seeds, seed std and 95 % interval on every split of the same benchmark; empty when it
    declares none."""
    cur = (site.coll.registry or {}).get(name)
    figures = cur.published if cur is not None else ()
    if not figures:
        return ""
    rows = []
    for fig in figures:
        ours = []
        for split in site.coll.splits():
            res = results.get(split)
            if res is None or res.skipped or not in_benchmark(split, fig.benchmark):
                continue
            value = fmt.pm(res.mean(fig.criterion), res.std(fig.criterion))
            seeds = f"{len(res.seeds)} seed" + ("s" if len(res.seeds) != 1 else "")
            inside = Comparison(name, fig, split, res).inside
            where = ("" if inside is None else
                     "; published inside" if inside else "; published outside")
            ours.append(f"{fmt.esc(split)}: {value} {ci_text(res, fig.criterion)}, {seeds}"
                        f"{where}")
        rows.append([
            fmt.esc(criterion_label(fig)), fmt.num(fig.value), fmt.esc(fig.benchmark),
            fmt.esc(fig.population), fmt.esc(fig.source),
            "<br>".join(ours) or f"not scored on a {fmt.esc(fig.benchmark)} split yet",
            fmt.esc(fig.note) or fmt.MISSING,
        ])
    head = ("Figures published for this estimator, beside ours on the same benchmark (mean ± "
            "seed std, then the 95 % bootstrap interval over architectures, and whether the "
            "published value lies inside it"
            + ("; a figure printed as a magnitude, |ρ|, is set beside the magnitude of ours "
               "and its interval" if any(f.absolute for f in figures) else "")
            + "). The notes say what "
            "differs between the protocols; nothing here is tuned towards the published "
            "number.\n")
    table = fmt.table(["Criterion", "Published", "Benchmark", "Population", "Source", "Ours",
                       "Why they may differ"], rows,
                      ["left", "right", "left", "left", "left", "left", "left"])
    return "## Published figures\n\n" + head + "\n" + table


def _metrics_table(res: Result) -> str:
    m = res.metrics
    seeds = [str(s) for s in res.seeds]
    per_seed = m["per_seed"]
    keys = fmt.metric_order(list(m["mean"].keys()))
    headers = ["Metric", "Mean ± std"] + [f"seed {s}" for s in seeds]
    rows = []
    for key in keys:
        label = fmt.metric_label(key) + (" ↓" if fmt.lower_is_better(key) else "")
        row = [label, fmt.pm(m["mean"].get(key), m["std"].get(key))]
        row += [fmt.num((per_seed.get(s) or {}).get(key)) for s in seeds]
        rows.append(row)
    return fmt.table(headers, rows, ["left"] + ["right"] * (len(headers) - 1))


def contract_line(res: Result) -> str:
    obj = res.obj
    if obj["contract_ok"]:
        return ("**Contract:** kept — every score finite, no scoring call failed, and "
                f"{_determinism_phrase(obj.get('determinism'))}.\n")
    lines = ['!!! failure "Estimator contract failed"', ""]
    lines += [f"    - {fmt.esc(p)}" for p in obj.get("contract_problems", [])] or \
        ["    - (no details recorded)"]
    errors = obj.get("errors") or []
    if errors:
        lines += ["", f'??? note "First {min(3, len(errors))} recorded error(s)"', ""]
        for err in errors[:3]:
            lines += [f"    arch {err.get('arch_id')}, seed {err.get('seed')}:", "",
                      "    ```text"]
            lines += ["    " + ln for ln in str(err.get("message", "")).splitlines()[-15:]]
            lines += ["    ```", ""]
    return "\n".join(lines) + "\n"


def _determinism_phrase(det: dict | None) -> str:
    """What the re-scoring check found, without claiming more than it checked."""
    if det is None:  # results written before the check recorded its counts
        return "the determinism re-check matched"
    checked, equal = int(det.get("checked", 0)), int(det.get("equal", 0))
    if checked == 0:
        return "no determinism re-check was run"
    matched = (f"{equal} of {checked} cell(s) re-scored alone matched their recorded score "
               "(bit for bit on CPU)")
    cross = det.get("cross_environment") or []
    if not cross:
        return matched
    worst = max(float(c.get("rel_diff", 0.0)) for c in cross)
    why = (f"differ by at most {worst:.1e} relative, which CPU kernels chosen per instruction "
           "set explain (reported, not a contract failure)")
    # Cells recorded on another CPU kind are compared too; saying "0 of 3 matched" alone would
    # read as a failure when every re-scored cell came from another environment.
    if equal == 0 and len(cross) == checked:
        return (f"the {checked} cell(s) re-scored alone were recorded in another numeric "
                f"environment and {why}")
    return (f"{matched}; {len(cross)} recorded in another numeric environment {why}")


def _bias(res: Result, images: dict[str, str], page: str) -> str:
    b = res.obj["bias"]
    cx = b.get("complexity") or {}
    out = ["### Bias\n"]
    out.append(
        f"**Complexity.** Kendall τ of the score with #params: "
        f"{fmt.num(cx.get('kendall_with_params'))}, with FLOPs: "
        f"{fmt.num(cx.get('kendall_with_flops'))} (true accuracy with #params: "
        f"{fmt.num(cx.get('truth_kendall_with_params'))}). Kendall τ with the true accuracy "
        "inside each parameter-count quintile:\n")
    rows = []
    for q in cx.get("kendall_within_param_quintiles") or []:
        rng = q.get("params_range")
        span = f"{rng[0] / 1e6:.4g} – {rng[1] / 1e6:.4g}" if rng else fmt.MISSING
        rows.append([str(q.get("quintile")), span, str(q.get("n")), fmt.num(q.get("kendall"))])
    out.append(fmt.table(["Quintile", "#params (M)", "N", "Kendall τ"], rows,
                         ["right", "left", "right", "right"]))
    if "complexity" in images:
        out.append(_figure(images["complexity"], "complexity bias", "complexity", page))
    ops = b.get("operation") or {}
    if ops:
        out.append("\n**Operations.** Kendall τ between how many edges carry an operation and "
                   "the score, next to the same τ for the true accuracy; a large gap means the "
                   "estimator favours (positive) or avoids (negative) the operation more than "
                   "accuracy justifies.\n")
        rows = [[fmt.code(op), fmt.num(v.get("kendall_count_vs_score")),
                 fmt.num(v.get("kendall_count_vs_truth")), fmt.num(v.get("gap"))]
                for op, v in sorted(ops.items())]
        out.append(fmt.table(["Operation", "τ(count, score)", "τ(count, truth)", "Gap"], rows,
                             ["left", "right", "right", "right"]))
    sv = b.get("seed_variance") or {}
    out.append(f"\n**Seed variance.** {sv.get('n_seeds', len(res.seeds))} seed(s); std of "
               f"Kendall τ across seeds: {fmt.num(sv.get('kendall_std_across_seeds'))}; mean "
               "Kendall τ between the scores of two seeds: "
               f"{fmt.num(sv.get('kendall_between_seeds_mean'))}.\n")
    pairs = sv.get("kendall_between_seeds") or {}
    if pairs:
        out.append(fmt.table(["Seed pair", "Kendall τ between scores"],
                             [[fmt.esc(k), fmt.num(v)] for k, v in sorted(pairs.items())],
                             ["left", "right"]))
    return "\n".join(out)


def _cost(res: Result) -> str:
    c, env = res.obj["cost"], res.obj["environment"]
    joint = c.get("joint_with") or []
    mode = c.get("mode", "alone") + (f" (with {', '.join(joint)})" if joint else "")
    rows = [
        ["Seconds per (arch, seed): median", fmt.seconds(c.get("wall_s_per_arch_median"))],
        ["Seconds per (arch, seed): 90th percentile", fmt.seconds(c.get("wall_s_per_arch_p90"))],
        ["Seconds per (arch, seed): mean", fmt.seconds(c.get("wall_s_per_arch_mean"))],
        ["GPU seconds per (arch, seed): median", fmt.seconds(c.get("gpu_s_per_arch_median"))],
        ["Peak RSS (MB)", _megabytes(c.get("peak_rss_mb"))],
        ["Peak CUDA memory (MB)", _megabytes(c.get("peak_cuda_mb"))],
        ["Device that wrote the results",
         fmt.esc(f"{env.get('device_name', '?')} ({c.get('device')})")],
        ["Scored in", fmt.esc(res.scored_in())],
        ["Threads", fmt.esc(env.get("threads"))],
        ["Scoring mode", fmt.esc(mode)],
        ["Date", fmt.esc(env.get("date"))],
        ["Harness commit", fmt.code(env.get("harness_commit"))],
        ["torch / Python", fmt.esc(f"{env.get('torch')} / {env.get('python')}")],
        ["Platform", fmt.esc(env.get("platform", "?"))],
    ]
    return "### Cost and environment\n\n" + fmt.table(["Measure", "Value"], rows,
                                                       ["left", "left"])


def _megabytes(value: float | None) -> str:
    return fmt.MISSING if value is None else f"{value:.0f}"


def _figure(path: str, alt: str, key: str, page: str) -> str:
    return f"\n![{alt}]({link(page, path)})\n\n*{PLOT_CAPTIONS[key]}*\n"


def _split_section(site: Site, name: str, res: Result, page: str) -> str:
    obj = res.obj
    split = res.split
    proto = obj["protocol"]
    env = obj["environment"]
    out = [f"## {split}\n"]
    if res.skipped:
        out.append(f"Not scored on [{split}]({link(page, split_page(split))}) (skipped).\n")
        return "\n".join(out)
    seeds = ", ".join(str(s) for s in proto["seeds"])
    out.append(
        f"[{split}]({link(page, split_page(split))}): {obj['n_archs']} architectures of "
        f"{fmt.esc(obj['split']['benchmark'])} on {fmt.esc(obj['split']['dataset'])}, seeds "
        f"{seeds}, {proto['n_batches']} batch(es) of {proto['batch_size']} images; scored on "
        f"{fmt.esc(res.scored_in())}; results dated "
        f"{fmt.esc(str(env.get('date', '?'))[:10])}, harness commit "
        f"{fmt.code(env.get('harness_commit'))}.\n")
    out.append(contract_line(res))
    out.append("### Metrics\n")
    out.append(f"Mean ± std over seeds and each seed's value "
               f"({site.ref('metrics', page, 'definitions')}; ↓ = lower is better).\n")
    out.append(_metrics_table(res))
    images = site.images.get((name, split), {})
    if "scatter" in images or "curves" in images:
        out.append("### Plots\n")
        if "scatter" in images:
            out.append(_figure(images["scatter"], f"{name} on {split}: score rank vs. true rank",
                               "scatter", page))
        if "curves" in images:
            out.append(_figure(images["curves"], f"{name} on {split}: P@topK and BR@K",
                               "curves", page))
    out.append(_prepared(res, images, page))
    out.append(_bias(res, images, page))
    out.append(_cost(res))
    return "\n".join(out)


def _prepared(res: Result, images: dict[str, str], page: str) -> str:
    """What ``prepare`` loaded (e.g. the supernet checkpoint) and the training curve."""
    prepared = res.obj.get("prepared") or {}
    points = (res.obj.get("curve") or {}).get("points") or []
    if not prepared and not points:
        return ""
    out = ["### Prepared state\n"]
    if prepared and all(is_supernet(d) for d in prepared.values()):
        out.append("The protocol: the supernet each seed's scores come from.\n")
        rows = [[fmt.esc(seed), *supernet_row(desc)] for seed, desc in sorted(prepared.items())]
        out.append(fmt.table(["Seed", "Supernet", "Sampler", "Sharing", "Epoch / budget",
                              "Schedule", "Scored as", "Training CPU-h", "Run"], rows,
                             ["left"] * 9))
    elif prepared:
        out.append("What the estimator's `prepare` step loaded, per seed:\n")
        rows = [[fmt.esc(seed), fmt.code(json.dumps(desc, sort_keys=True))]
                for seed, desc in sorted(prepared.items())]
        out.append(fmt.table(["Seed", "Description"], rows, ["left", "left"]))
    if points:
        out.append("\n**Training curve** (metrics at each saved checkpoint):\n")
        rows = [[str(p["checkpoint"]), str(p["seed"]), fmt.num(p.get("kendall")),
                 fmt.num(p.get("spearman")), fmt.num(p.get("p_top_5"))]
                for p in sorted(points, key=lambda p: (p["seed"], p["checkpoint"]))]
        out.append(fmt.table(["Checkpoint", "Seed", "Kendall τ", "Spearman ρ", "P@top-5 %"],
                             rows, ["right", "right", "right", "right", "right"]))
        if "training" in images:
            out.append(_figure(images["training"], "training curve", "training", page))
    return "\n".join(out)


_SUPERNET_KEYS = ("config_hash", "sampler", "sharing", "epoch", "epoch_budget", "eval")


def is_supernet(desc: dict | None) -> bool:
    return isinstance(desc, dict) and all(k in desc for k in _SUPERNET_KEYS)


def supernet_row(desc: dict) -> list[str]:
    """One seed's one-shot protocol in words (shape, sampler, sharing, budget, scoring)."""
    shape = desc.get("shape") or {}
    net = (f"{shape['cells_per_stage']} cell(s)/stage, {shape['channels']} ch"
           if shape else "5 cells/stage, 16 ch")
    if desc.get("memory_format"):
        net += f", {desc['memory_format']}"
    ev = desc["eval"]
    scored = (f"{desc.get('iso_eval', 'self')}"
              f"{', post-de-isomorphism' if desc.get('post_deiso') else ''}; "
              f"{ev['n_batches']} x {ev['batch_size']} validation images")
    training = desc.get("training") or {}
    cpu_h = (f"{training['cpu_s'] / 3600:.2f}" if training.get("cpu_s") is not None
             else fmt.MISSING)
    return [fmt.esc(net), fmt.esc(desc["sampler"]), fmt.esc(desc["sharing"]),
            fmt.esc(f"{desc['epoch']} / {desc['epoch_budget']}"),
            fmt.esc(desc.get("schedule", "cosine")), fmt.esc(scored), cpu_h,
            fmt.code(desc["config_hash"])]


def render(site: Site, name: str) -> str:
    """Markdown of ``docs/estimators/<name>.md``."""
    page = estimator_page(name)
    results = site.coll.of_estimator(name)
    meta = site.coll.estimator_meta(name)
    out = [fmt.generated_header(name, site.results_label, hide=("navigation",)), f"# {name}\n"]
    out.append(f"*{fmt.esc(meta['idea'])}*\n")
    out.append(_metadata(site, name, page))
    out.append("## Summary\n")
    out.append(_summary(site, name, results, page))
    published = published_section(site, name, results)
    if published:
        out.append(published)
    for split in site.coll.splits():
        if split in results:
            out.append(_split_section(site, name, results[split], page))
    paper = meta.get("paper")
    if paper and paper.get("bibtex"):
        out.append("## Citation\n")
        out.append(fmt.fenced(paper["bibtex"].strip(), "bibtex"))
    return "\n".join(out)
