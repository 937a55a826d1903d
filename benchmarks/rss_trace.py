"""Resident memory of a long run, sampled against its progress.

A full-space run (15,625 cells) must keep its memory flat: anything kept per cell (a cache, a
graph, a list of tensors) shows as a slope. This wraps the run's command, samples the resident
set size of the process and its children every few seconds, counts the lines of a checkpoint
journal as the progress, and writes one JSON record::

    python benchmarks/rss_trace.py --out benchmarks/results/rss-X.json \
        --progress leaderboard/results/params/.nb201-c10.shard0of2.ckpt.jsonl -- \
        pytest harness/ -p no:xdist --estimator=params --split=nb201-c10 --shard=0/2 ...

The record holds every sample, the peak, and the least-squares slope in MB per 1,000 cells
over the samples after the first 10 % of progress (start-up allocations excluded).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, from ``/proc`` (Linux), in MiB."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (OSError, ValueError):
            continue
        todo.extend(int(k) for k in kids)
    return total / 1024.0


def count_lines(path: Path | None) -> int | None:
    """Lines of ``path`` minus its header (``None`` when there is no such file yet)."""
    if path is None or not path.is_file():
        return None
    with open(path, "rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def slope_mb_per_1000(samples: list[dict]) -> float | None:
    """Least-squares MB per 1,000 progress lines after the first 10 % of progress."""
    pts = [(s["progress"], s["rss_mb"]) for s in samples if s["progress"] is not None]
    if len(pts) < 3:
        return None
    top = max(p for p, _ in pts)
    pts = [(p, m) for p, m in pts if p >= 0.1 * top]
    if len(pts) < 3 or len({p for p, _ in pts}) < 2:
        return None
    x, y = np.array(pts, dtype=float).T
    return float(np.polyfit(x, y, 1)[0] * 1000.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON record to write")
    ap.add_argument("--progress", type=Path, default=None,
                    help="checkpoint journal whose lines count the cells done")
    ap.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    args = ap.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("give the command to run after --")
    if args.out.exists():
        ap.error(f"{args.out} exists; choose another --out (it is never overwritten)")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd)
    samples: list[dict] = []
    while True:
        code = proc.poll()
        rss = tree_rss_mb(proc.pid) if code is None else None
        if rss:
            samples.append({"t_s": round(time.monotonic() - t0, 1), "rss_mb": round(rss, 1),
                            "progress": count_lines(args.progress)})
            # Written after every sample: a run killed at the end of a working period keeps
            # its trace (with exit_code null).
            write_record(args.out, cmd, args.progress, None, t0, samples)
        if code is not None:
            break
        time.sleep(args.every)
    record = write_record(args.out, cmd, args.progress, code, t0, samples)
    print(f"wrote {args.out}: peak {record['peak_rss_mb']} MB, slope "
          f"{record['slope_mb_per_1000_cells']} MB per 1,000 cells", file=sys.stderr)
    return code


def write_record(out: Path, cmd: list[str], progress: Path | None, code: int | None,
                 t0: float, samples: list[dict]) -> dict:
    """Write the trace so far atomically; returns it."""
    record = {
        "what": "resident memory (process tree, /proc VmRSS) against checkpoint lines",
        "command": cmd, "progress_file": None if progress is None else str(progress),
        "exit_code": code, "wall_s": round(time.monotonic() - t0, 1),
        "peak_rss_mb": max((s["rss_mb"] for s in samples), default=None),
        "slope_mb_per_1000_cells": slope_mb_per_1000(samples),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "samples": samples,
    }
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, out)
    return record


if __name__ == "__main__":
    sys.exit(main())
