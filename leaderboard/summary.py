"""``python -m leaderboard summary DIR``: a Markdown report of a results directory.

Written for ``$GITHUB_STEP_SUMMARY`` in the pull-request workflow: one row per estimator on the
split, the contract verdict with the problems, and the rank each result would take among the
committed leaderboard's complete results. The verdict (``ok``) is False when a contract failed,
an expected estimator has no result, or a results file is unusable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from leaderboard import fmt
from leaderboard.collect import Collection, Result, collect, rank_rows


def _would_rank(res: Result, board: Collection | None, split: str) -> str:
    if board is None or res.mean("kendall") is None:
        return fmt.MISSING
    rows = [r for r in rank_rows(board, [split], split) if r.complete and r.name != res.estimator]
    taus = [r.cells[split].mean("kendall") for r in rows]
    better = sum(1 for t in taus if t is not None and t > res.mean("kendall"))
    return f"{better + 1} of {len(rows) + 1}"


def _problems(res: Result) -> list[str]:
    obj = res.obj
    out = [f"- {fmt.esc(p)}" for p in obj.get("contract_problems", [])]
    for err in (obj.get("errors") or [])[:2]:
        msg = "\n".join(str(err.get("message", "")).splitlines()[-12:])
        out.append(f"<details><summary>arch {err.get('arch_id')}, seed {err.get('seed')}"
                   f"</summary>\n\n```text\n{msg}\n```\n\n</details>")
    return out


def summarize(results_dir: Path, split: str = "nb201-c10-1k", expect: Sequence[str] = (),
              leaderboard_dir: Path | None = None) -> tuple[str, bool]:
    """Markdown report and verdict for the results of ``split`` under ``results_dir``."""
    coll = collect(results_dir, use_registry=True)
    board = None
    if leaderboard_dir is not None and Path(leaderboard_dir).is_dir():
        board = collect(leaderboard_dir, use_registry=False)
    found = coll.of_split(split)
    ok = True
    out = [f"## estbench: estimator results on `{split}`\n"]
    rows = []
    for name, res in found.items():
        if res.skipped:
            rows.append([fmt.code(name), fmt.esc(res.kind)] + [fmt.MISSING] * 8 + ["skipped"])
            continue
        cost = res.obj["cost"]
        verdict = "✅ kept" if res.obj["contract_ok"] else "❌ failed"
        ok &= bool(res.obj["contract_ok"])
        rows.append([
            fmt.code(name), fmt.esc(res.kind), fmt.pm(res.mean("kendall"), res.std("kendall")),
            fmt.num(res.mean("spearman")), fmt.num(res.mean("p_top_5")), fmt.num(res.mean("br_5")),
            str(len(res.seeds)),
            f"{fmt.seconds(cost['wall_s_per_arch_median'])} ({fmt.esc(cost['device'])}"
            + (", joint run" if cost.get("mode") == "joint" else "") + ")",
            str(res.n_failed), _would_rank(res, board, split), verdict,
        ])
    if rows:
        out.append(fmt.table(
            ["Estimator", "Kind", "Kendall τ", "Spearman ρ", "P@top 5 %", "BR@5 %", "Seeds",
             "s/arch", "Failed scores", "Would rank", "Contract"], rows,
            ["left", "left"] + ["right"] * 8 + ["left"]))
        out.append("\n*Would rank*: position by mean Kendall τ among the committed "
                   "leaderboard's complete results on this split.\n")
    else:
        out.append(f"No results on `{split}` were found in `{fmt.esc(results_dir)}`.\n")
        ok = False
    for name, res in found.items():
        if not res.skipped and not res.obj["contract_ok"]:
            out.append(f"\n### ❌ `{name}` broke the estimator contract\n")
            out += _problems(res)
    missing = [n for n in expect if n not in found]
    if missing:
        ok = False
        out.append("\n### ❌ Missing results\n")
        out += [f"- `{fmt.esc(n)}`: no `{fmt.esc(n)}/{split}.json` was written (see the "
                "job log: the estimator may have failed to import or crashed the run)"
                for n in missing]
    if coll.warnings:
        ok = False
        out.append("\n### ⚠️ Problems\n")
        out += [f"- {fmt.esc(w)}" for w in coll.warnings]
    out.append("\n" + ("**Verdict: ✅ the contract holds.** A maintainer adds the results to the "
                       "leaderboard after merging." if ok else
                       "**Verdict: ❌ see above.** Reproduce locally with `pytest harness/ "
                       f"--estimator=NAME --split={split}`.") + "\n")
    return "\n".join(out), ok
