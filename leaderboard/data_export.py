"""The leaderboard as numeric data: one CSV row per (estimator, split), numbers in their own
columns, for pandas or a spreadsheet.

The site's tables and the LaTeX/Markdown exports show formatted text (``0.752 ± 0.004``,
``0.15 cpu joint†``); this CSV holds the same results as plain numbers: τ with its seed std
and 95 % bootstrap interval, the other criteria at 5 %, the seeds, and the cost: the
standalone seconds per architecture and peak memory (the estimator alone, one thread,
``python -m harness cost``; empty where not measured; ``standalone_earlier_code`` 1 where it
was measured on earlier code of the estimator's version, the site's ‡), and the scoring run's
seconds split into scoring and (one-shot) amortised training. Empty cells are missing values
(no interval in an older result, no training for a zero-shot estimator).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from leaderboard.cells import ci
from leaderboard.collect import Collection, Result, cost_code_changed, rank_rows

#: Columns in order (described in the module docstring).
COLUMNS = (
    "estimator", "kind", "split", "rank", "status", "status_reasons",
    "kendall", "kendall_seed_std", "kendall_ci_low", "kendall_ci_high",
    "spearman", "spearman_ci_low", "spearman_ci_high", "pearson",
    "p_top_5", "p_top_10", "br_5", "wr_5", "ndcg_exp_5", "ndcg_5",
    "n_seeds", "seeds", "n_archs",
    "standalone_s_per_arch", "standalone_peak_mb", "standalone_earlier_code",
    "score_s_per_arch", "training_s_per_arch", "total_s_per_arch", "cost_mode", "cost_device",
    "estimator_version",
)

CRITERIA = ("spearman", "pearson", "p_top_5", "p_top_10", "br_5", "wr_5", "ndcg_exp_5",
            "ndcg_5")


def _status(complete: bool, notes: Sequence[str], issues: Sequence[str]) -> tuple[str, str]:
    if complete and notes:
        return "provisional", "; ".join(notes)
    if complete:
        return "complete", ""
    return "incomplete", "; ".join(issues)


def result_record(res: Result) -> dict:
    """The numeric columns of one result (without rank and status)."""
    cost = res.obj["cost"]
    training = (cost.get("training") or {}).get("cpu_s_per_arch")
    score_s = cost["wall_s_per_arch_median"]
    tau_ci, rho_ci = ci(res, "kendall"), ci(res, "spearman")
    out = {
        "estimator": res.estimator, "kind": res.obj["estimator"]["kind"], "split": res.split,
        "kendall": res.mean("kendall"), "kendall_seed_std": res.std("kendall"),
        "kendall_ci_low": tau_ci[0] if tau_ci else None,
        "kendall_ci_high": tau_ci[1] if tau_ci else None,
        "spearman_ci_low": rho_ci[0] if rho_ci else None,
        "spearman_ci_high": rho_ci[1] if rho_ci else None,
        "n_seeds": len(res.seeds), "seeds": " ".join(str(s) for s in res.seeds),
        "n_archs": res.obj["n_archs"],
        "standalone_s_per_arch": (res.standalone or {}).get("s_per_arch_median"),
        "standalone_peak_mb": (res.standalone or {}).get("peak_rss_mb"),
        # 1: measured on earlier code of the same version (the site's ‡), so possibly stale.
        "standalone_earlier_code": (None if res.standalone is None
                                    else int(cost_code_changed(res))),
        "score_s_per_arch": score_s, "training_s_per_arch": training,
        "total_s_per_arch": score_s + (training or 0.0),
        "cost_mode": cost["mode"], "cost_device": cost["device"],
        "estimator_version": res.obj["estimator"]["version"],
    }
    out.update({k: res.mean(k) for k in CRITERIA})
    return out


def data_records(coll: Collection, splits: Sequence[str]) -> list[dict]:
    """One record per (estimator, split) with a usable result, ranked as that split's page
    ranks it (by mean τ among complete rows); ordered by split, then rank, then name."""
    records = []
    for split in splits:
        for row in rank_rows(coll, [split], split):
            res = row.cells.get(split)
            if res is None:
                continue
            status, reasons = _status(row.complete, row.notes, row.issues)
            records.append({**result_record(res), "rank": row.rank, "status": status,
                            "status_reasons": reasons})
    return records


def data_cell(value: object) -> str:
    """A CSV field of a data file: empty for ``None``, every digit of a float."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # every digit: a data file, not a display
    return str(value)


def to_data_csv(records: Sequence[dict], columns: Sequence[str] = COLUMNS) -> str:
    """CSV (RFC 4180, ``\\n`` line ends) with the ``columns`` header (default
    :data:`COLUMNS`), a missing value as an empty field."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for rec in records:
        writer.writerow([data_cell(rec.get(c)) for c in columns])
    return buf.getvalue()
