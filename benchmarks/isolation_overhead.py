"""What ``--isolate`` costs: seconds per architecture in a worker process against in process.

Scores the same cells of a split twice with each estimator, alone: in the harness's process,
then in a worker process of its own (:mod:`harness.run.isolation`), and checks that the scores
are the same bits. Reported per estimator: the worker's start (a fresh interpreter, torch and
the estimator's module), the median seconds per cell each way and their difference (one message
round trip and a pickled record per cell). Joint scoring's shared passes are a separate saving
that isolation also gives up; ``leaderboard/costs`` holds each estimator's standalone cost::

    python benchmarks/isolation_overhead.py --estimators params,synflow,grad_norm \
        --split nb201-c10-smoke --cells 20 --out benchmarks/results/isolation-cpu.json

Run it on an idle machine: the numbers are wall-clock times.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from harness import data, registry
from harness.run import RunConfig, Session, score_cell
from harness.run.environment import set_threads
from harness.run.isolation import IsolatedScorer


def measure(name: str, split: str, n_cells: int, data_dir: str) -> dict:
    """One estimator: in-process and isolated seconds per cell on the first ``n_cells``."""
    est = registry.get(name)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = RunConfig(seeds=(20,), data_dir=data_dir, results_dir=Path(tmp),
                        determinism_checks=0, threads=1)
        set_threads(1, "cpu")
        session = Session.create([est], split, cfg)
        positions = list(range(min(n_cells, len(session.split))))
        score_cell(session, [est], positions[0], 20)  # warm: batches, first build
        local, local_scores = [], []
        for p in positions:
            t0 = time.perf_counter()
            local_scores.append(score_cell(session, [est], p, 20)[est.name].score)
            local.append(time.perf_counter() - t0)
        worker = IsolatedScorer(Session.create([est], split, dataclasses.replace(cfg)), est)
        t0 = time.perf_counter()
        worker._start()
        start_s = time.perf_counter() - t0
        worker(positions[0], 20)  # warm, as above
        remote, remote_scores = [], []
        for p in positions:
            t0 = time.perf_counter()
            remote_scores.append(worker(p, 20).score)
            remote.append(time.perf_counter() - t0)
        worker.close()
    med_local, med_remote = statistics.median(local), statistics.median(remote)
    return {"estimator": name, "cells": len(positions), "worker_start_s": start_s,
            "s_per_cell_in_process": med_local, "s_per_cell_isolated": med_remote,
            "overhead_s_per_cell": med_remote - med_local,
            "same_bits": local_scores == remote_scores}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--estimators", default="params,synflow,grad_norm")
    ap.add_argument("--split", default="nb201-c10-smoke")
    ap.add_argument("--cells", type=int, default=20)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None, help="write the JSON record here")
    a = ap.parse_args(argv)
    data_dir = str(data.resolve_data_dir(a.data_dir))
    rows = [measure(n, a.split, a.cells, data_dir) for n in a.estimators.split(",")]
    record = {"split": a.split, "machine": platform.processor() or platform.machine(),
              "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
              "torch": torch.__version__, "threads": 1,
              "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "rows": rows}
    print("| estimator | worker start (s) | s/cell in process | s/cell isolated | overhead "
          "(s/cell) | same bits |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['estimator']} | {r['worker_start_s']:.2f} | "
              f"{r['s_per_cell_in_process']:.4f} | {r['s_per_cell_isolated']:.4f} | "
              f"{r['overhead_s_per_cell']:+.4f} | {r['same_bits']} |")
    if a.out:
        Path(a.out).write_text(json.dumps(record, indent=1) + "\n")
    return 0 if all(r["same_bits"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
