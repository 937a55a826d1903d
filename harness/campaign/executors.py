"""Where a campaign's tasks run: worker processes on this machine, or this process (tests).

An executor has ``start(task, deadline)``, ``poll() -> {task: outcome}`` (``finished``,
``stopped`` or an error line), ``stop(hard)`` and ``running``; the Dask one is in
:mod:`harness.campaign.dask_executor`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable

from harness import data
from harness.campaign.plan import Plan
from harness.campaign.tasks import KILLED, Task, run_task
from harness.worker import Worker, WorkerDied


def task_main(conn, plan: Plan, task: Task, deadline: float, log_path: str) -> None:
    """A campaign task in its worker process: its output goes to its log, SIGTERM or SIGINT
    stops it at the next cell (or training step), and its outcome goes back over the pipe."""
    # Own session: a terminal's Ctrl-C reaches the runner, which stops the workers itself (so
    # that they all stop the same way, at a cell boundary).
    os.setsid()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    flag: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda s, _frame: flag.append(s))
    try:
        outcome = run_task(plan, task, lambda: bool(flag) or time.time() >= deadline,
                           log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except Exception as exc:  # a broken estimator: reported, the campaign goes on
        outcome = f"{type(exc).__name__}: {exc} (log: {log_path})"
    print(f"[task {task.tag}] {outcome}", file=sys.stderr, flush=True)
    conn.send(outcome)


class LocalExecutor:
    """Tasks as single-thread worker processes on this machine (:class:`harness.worker.Worker`,
    the design isolated scoring uses), each logging to ``<cache>/campaign/logs``."""

    #: A task worker's threads: one, whatever the machine (the runner runs one per core).
    ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def __init__(self, plan: Plan):
        self.plan = plan
        self.logs = data.default_cache_dir() / "campaign" / "logs"
        self.workers: dict[Task, Worker] = {}
        self._killed_here = False

    def start(self, task: Task, deadline: float) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = str(self.logs / f"{task.tag}.log")
        worker = Worker(task_main, (self.plan, task, deadline, log), f"estbench-{task.tag}")
        # Not a daemon: a task may start workers of its own (untrusted estimators).
        worker.spawn(env=self.ENV, daemon=False)
        self.workers[task] = worker

    def poll(self) -> dict[Task, str]:
        """Tasks that ended since the last call → ``finished``, ``stopped`` or an error."""
        out = {}
        for task, worker in list(self.workers.items()):
            done, outcome = worker.ended()
            if not done:
                continue
            del self.workers[task]
            if isinstance(outcome, WorkerDied):
                log = self.logs / (task.tag + ".log")
                if outcome.exitcode == -signal.SIGKILL and not self._killed_here:
                    outcome = (f"{KILLED} (on Linux most often the out-of-memory killer; "
                               f"`dmesg` names it) (log: {log})")
                else:
                    outcome = f"worker exited with status {outcome.exitcode} (log: {log})"
            out[task] = outcome
        return out

    def stop(self, hard: bool = False) -> None:
        self._killed_here = self._killed_here or hard  # our own SIGKILL is no memory kill
        for worker in self.workers.values():
            worker.send_signal(signal.SIGKILL if hard else signal.SIGTERM)

    @property
    def running(self) -> int:
        return len(self.workers)


class InlineExecutor:
    """Tasks run one after the other in this process (tests, and debugging an estimator):
    ``stop`` is the runner's own, so a fake clock drives the budget."""

    def __init__(self, plan: Plan, stop: Callable[[], bool]):
        self.plan, self._stop = plan, stop
        self.ended: dict[Task, str] = {}

    def start(self, task: Task, deadline: float) -> None:
        try:
            self.ended[task] = run_task(self.plan, task, self._stop, log=lambda _m: None)
        except Exception as exc:  # a broken estimator: reported, the campaign goes on
            self.ended[task] = f"{type(exc).__name__}: {exc}"

    def poll(self) -> dict[Task, str]:
        out, self.ended = self.ended, {}
        return out

    def stop(self, hard: bool = False) -> None:
        pass

    @property
    def running(self) -> int:
        return 0
