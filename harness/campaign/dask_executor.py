"""Campaign tasks on a Dask cluster (``campaign run --scheduler ADDR``).

Each task is a Dask task running :func:`harness.campaign.tasks.run_task` on a worker, which
writes its shard journals under the plan's (absolute) results directory on its own machine and
sends their text back; the client stores them unless an identical file is already there (a
shared filesystem), exactly as :mod:`harness.distributed` does for a single run. The budget
reaches the workers as an absolute wall-clock deadline; a signal on the client sets a Dask
``Event`` that the tasks poll (at most every few seconds), so they stop at a cell boundary too.
Train jobs need ``train_dir`` on a filesystem the client shares: their checkpoints are not
sent back.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from distributed import Client, Event

from harness import data, results
from harness.campaign.plan import Plan, ScoreJob, find_job
from harness.campaign.status import pending_estimators
from harness.campaign.tasks import Task, run_task

#: Seconds between a task's looks at the stop event (a scheduler round trip each).
EVENT_POLL_S = 5.0


def _remote(plan: Plan, task: Task, deadline: float, event_name: str) -> tuple[str, dict]:
    """Run on a worker: the task, then its journals' text (score jobs)."""
    event, seen = Event(event_name), [0.0, False]

    def stop() -> bool:
        now = time.time()
        if now - seen[0] >= EVENT_POLL_S:
            seen[0], seen[1] = now, event.is_set()
        return seen[1] or now >= deadline

    outcome = run_task(plan, task, stop, log=lambda _m: None)
    job = find_job(plan, task.job)
    texts = {}
    if isinstance(job, ScoreJob) and task.shard:
        tag = f"{task.shard[0]}/{task.shard[1]}"
        for est in pending_estimators(job, plan):
            path = results.checkpoint_path(plan.results_dir_of(job), est.name, job.split, tag)
            if path.is_file():
                texts[str(path)] = path.read_text()
    return outcome, texts


class DaskExecutor:
    """Tasks as Dask tasks on the cluster whose scheduler is at ``address``."""

    def __init__(self, plan: Plan, address: str | Any):
        self.plan = plan
        self.client = address if not isinstance(address, str) else Client(address)
        self.event_name = f"estbench-campaign-stop-{uuid.uuid4().hex[:8]}"
        self.event = Event(self.event_name, client=self.client)
        self.futures: dict[Task, Any] = {}

    def start(self, task: Task, deadline: float) -> None:
        self.futures[task] = self.client.submit(
            _remote, self.plan, task, deadline, self.event_name, pure=False,
            key=f"estbench-campaign-{task.tag}-{uuid.uuid4().hex[:8]}")

    def poll(self) -> dict[Task, str]:
        out = {}
        for task, fut in list(self.futures.items()):
            if not fut.done():
                continue
            del self.futures[task]
            try:
                outcome, texts = fut.result()
            except Exception as exc:  # the worker's error, reported as the task's outcome
                out[task] = f"{type(exc).__name__}: {exc}"
                continue
            for name, text in texts.items():
                path = Path(name)
                if not (path.is_file() and path.read_text() == text):
                    data.atomic_write_bytes(path, lambda fh, t=text: fh.write(t.encode()))
            out[task] = outcome
            fut.release()
        return out

    def stop(self, hard: bool = False) -> None:
        self.event.set()
        if hard:
            self.client.cancel(list(self.futures.values()))

    @property
    def running(self) -> int:
        return len(self.futures)
