"""``python -m harness campaign {status,run,state}``: the board filled on a clock.

::

    python -m harness campaign status [PLAN] [--json] [--probe N]
    python -m harness campaign run [PLAN] --budget 2h30m [--workers 2] [--results-dir DIR]
                                   [--scheduler tcp://host:8786]
    python -m harness campaign state [PLAN]        # resumable state to commit, with sizes

``PLAN`` defaults to ``campaigns/board.toml``. See ``docs/distributed.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from harness import data
from harness.campaign.plan import Plan, PlanError, load_plan
from harness.campaign.runner import (
    Campaign,
    CampaignError,
    continue_command,
    parse_budget,
)
from harness.campaign.status import JobStatus, plan_status, this_device

DEFAULT_PLAN = "campaigns/board.toml"


def _plan(args: argparse.Namespace) -> Plan:
    plan = load_plan(args.plan)
    over = {}
    if getattr(args, "results_dir", None):
        over["results_dir"] = Path(args.results_dir).resolve()
    if getattr(args, "train_dir", None):
        over["train_dir"] = Path(args.train_dir).resolve()
    if over:
        plan = replace(plan, **over)
    return plan


def _hours(h: float | None) -> str:
    return "?" if h is None else f"{h:.2f}"


def _ranges(indices: list[int]) -> str:
    """``[1, 2, 3, 5]`` as ``1-3, 5``."""
    out: list[list[int]] = []
    for i in sorted(indices):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in out)


def _elsewhere(rows: list[JobStatus], here: str) -> list[str]:
    """One line per other device whose measurements cost unfinished jobs: a cost does not
    carry over between CPU kinds, so the reader is told which totals are borrowed."""
    by_device: dict[str, list[int]] = {}
    for r in rows:
        if r.cpu_hours_left:
            for name in r.measured_on:
                if name != here:
                    by_device.setdefault(name, []).append(r.index)
    return [f"  job{'s' if len(idx) > 1 else ''} {_ranges(idx)}: {name}"
            for name, idx in sorted(by_device.items())]


def format_status(plan: Plan, rows: list[JobStatus], here: str | None = None) -> str:
    """The status table, one line per job, then the totals, then the jobs whose cost was
    measured on another device than ``here`` (default: this machine's)."""
    lines = [f"campaign {plan.name} ({plan.path}); results in {plan.results_dir}",
             f"{'#':>3}  {'state':8} {'progress':>18}  {'CPU-h left':>10}  {'cost from':13} job"]
    for r in rows:
        prog = f"{r.done:g}/{r.total:g} {r.unit}"
        after = (f" (after job{'s' if len(r.waits_for) > 1 else ''} "
                 f"{', '.join(map(str, r.waits_for))})" if r.waits_for else "")
        lines.append(f"{r.index:>3}  {r.state:8} {prog:>18}  {_hours(r.cpu_hours_left):>10}  "
                     f"{r.cost_source if r.state != 'done' else '':13} {r.label}{after}")
    count = {s: sum(r.state == s for r in rows) for s in ("done", "partial", "missing")}
    known = [r.cpu_hours_left for r in rows if r.cpu_hours_left is not None]
    unknown = [str(r.index) for r in rows if r.cpu_hours_left is None]
    lines.append(f"total: {count['done']} done, {count['partial']} partial, "
                 f"{count['missing']} missing; {sum(known):.1f} CPU-h left"
                 + (f" plus jobs {', '.join(unknown)} without a cost estimate (--probe N "
                    "measures them)" if unknown else ""))
    here = here or this_device()
    elsewhere = _elsewhere(rows, here)
    if elsewhere:
        lines.append(f"costs measured on another device, not on this one ({here}); "
                     "read them as estimates:")
        lines.extend(elsewhere)
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    plan = _plan(args)
    rows = plan_status(plan, probe=args.probe)
    if args.json:
        known = [r.cpu_hours_left for r in rows if r.cpu_hours_left is not None]
        print(json.dumps({"plan": str(plan.path), "results_dir": str(plan.results_dir),
                          "device": this_device(), "jobs": [r.to_dict() for r in rows],
                          "cpu_hours_left": sum(known),
                          "jobs_without_estimate": [r.index for r in rows
                                                    if r.cpu_hours_left is None]}, indent=1))
    else:
        print(format_status(plan, rows))
    return 0 if all(r.state == "done" for r in rows) else 1


def cmd_state(args: argparse.Namespace) -> int:
    plan = _plan(args)
    # Resumable state (partial jobs) and what finished runs' results rest on, in bytes.
    sizes = {"": 0, ", finished": 0}
    for r in plan_status(plan):
        for files, mark in ((r.state_files, ""), (r.kept_files, ", finished")):
            for f in files:
                size = Path(f).stat().st_size
                sizes[mark] += size
                print(f"{f}\t{size / 1e6:.2f} MB\tjob {r.index}{mark}")
    state, kept = sizes[""], sizes[", finished"]
    print(f"# {state / 1e6:.2f} MB of resumable state and {kept / 1e6:.2f} MB of finished "
          f"runs' weights (already committed ones are unchanged); commit them with "
          f"cut -f1 | xargs git add -f", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    plan = _plan(args)
    budget = parse_budget(args.budget)
    executor: object = "local"
    memory = None
    if args.scheduler:
        # lazy: Dask is optional (the `distributed` extra)
        from harness.campaign.dask_executor import DaskExecutor

        executor = DaskExecutor(plan, args.scheduler)
        memory = float("inf")  # the cluster's workers hold their own memory limits
    camp = Campaign(plan, budget, workers=args.workers, tty=sys.stderr.isatty(),
                    executor=executor, memory_mb=memory)
    report = camp.run()
    rows = report.left
    print(format_status(plan, plan_status(plan)) if rows else "campaign: nothing left to do")
    for label, why in report.failed.items():
        print(f"failed: {label}: {why}")
    if report.stopped_by:
        print(f"stopped by the {report.stopped_by}; finished cells are journaled")
    print(f"continue with: {continue_command(plan, args.budget, args.workers, args.results_dir)}")
    return 0 if not rows and not report.failed else 1


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness campaign",
                                 description="Fill the board on a clock: time-budgeted, "
                                             "resumable campaigns from a TOML plan.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("plan", nargs="?", default=DEFAULT_PLAN,
                       help=f"the plan file (default: {DEFAULT_PLAN})")
        p.add_argument("--results-dir", default=None,
                       help="override the plan's results_dir")
        p.add_argument("--train-dir", default=None, help="override the plan's train_dir")
        return p

    st = add("status", "each job's state and CPU-hours left; exit 0 only when nothing is left")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--probe", type=int, default=0, metavar="N",
                    help="measure jobs without a committed cost on N cells each")
    rn = add("run", "work through the missing jobs in plan order until the budget")
    rn.add_argument("--budget", required=True, help="e.g. 2h30m, 90m, 45s")
    rn.add_argument("--workers", type=int, default=2,
                    help="single-thread worker processes, or tasks at once on a Dask "
                         "cluster (default: %(default)s)")
    rn.add_argument("--scheduler", default=None, metavar="ADDR",
                    help="run the tasks on the Dask cluster at ADDR (tcp://host:8786) "
                         "instead of local worker processes")
    add("state", "paths and sizes of unfinished jobs' resumable state (to commit)")
    args = ap.parse_args(argv)
    try:
        return {"status": cmd_status, "run": cmd_run, "state": cmd_state}[args.cmd](args)
    except (PlanError, CampaignError, ValueError, data.DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
