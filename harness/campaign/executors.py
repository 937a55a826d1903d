"""Where a campaign's tasks run: worker processes on this machine, or this process (tests).

An executor has ``start(task, deadline)``, ``poll() -> {task: outcome}`` (``finished``,
``stopped`` or an error line), ``stop(hard)`` and ``running``; the Dask one is in
:mod:`harness.campaign.dask_executor`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

from harness import data
from harness.campaign.plan import Plan
from harness.campaign.tasks import FINISHED, STOPPED, Task, run_task


class LocalExecutor:
    """Tasks as single-thread worker processes on this machine
    (``python -m harness campaign _task``), each logging to ``<cache>/campaign/logs``."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.logs = data.default_cache_dir() / "campaign" / "logs"
        self.procs: dict[Task, subprocess.Popen] = {}

    def start(self, task: Task, deadline: float) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "harness", "campaign", "_task", str(self.plan.path),
               "--job", str(task.job), "--deadline", repr(deadline),
               "--results-dir", str(self.plan.results_dir),
               "--train-dir", str(self.plan.train_dir)]
        if task.shard:
            cmd += ["--shard", f"{task.shard[0]}/{task.shard[1]}"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        with open(self.logs / f"{task.tag}.log", "a") as log:
            # Own process group: a terminal's Ctrl-C reaches the runner, which stops the
            # workers itself (so that they all stop the same way, at a cell boundary).
            self.procs[task] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                                env=env, start_new_session=True)

    def poll(self) -> dict[Task, str]:
        """Tasks that ended since the last call → ``finished``, ``stopped`` or an error."""
        out = {}
        for task, proc in list(self.procs.items()):
            rc = proc.poll()
            if rc is None:
                continue
            del self.procs[task]
            out[task] = {0: FINISHED, 3: STOPPED}.get(
                rc, f"worker exited with status {rc} (log: {self.logs / (task.tag + '.log')})")
        return out

    def stop(self, hard: bool = False) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)

    @property
    def running(self) -> int:
        return len(self.procs)


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
