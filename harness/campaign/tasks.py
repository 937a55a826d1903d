"""One unit of a campaign's work, run by a worker: a shard of a score job, or a train job.

A task stops cleanly when ``stop()`` answers true: scoring at the next cell boundary (every
finished cell is already journaled), training at the next step (a step checkpoint is saved).
It reports whether it finished its share or was stopped; a killed task loses only what was in
flight and the next campaign run resumes it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from harness.campaign.plan import Plan, ScoreJob, find_job
from harness.campaign.status import job_config, pending_estimators
from harness.campaign.train_task import run_train_job
from harness.run.isolation import isolated
from harness.run.scoring import score_split
from harness.run.session import Session

FINISHED, STOPPED = "finished", "stopped"
#: How an executor's outcome begins when the system killed a task's worker with SIGKILL (on
#: Linux almost always the kernel's out-of-memory killer): the runner gives such a task a
#: second try with no other task beside it (:class:`harness.campaign.runner.Campaign`).
KILLED = "worker killed by SIGKILL"


def was_killed(outcome: str) -> bool:
    """Whether ``outcome`` says the system killed the task's worker (see :data:`KILLED`)."""
    return outcome.startswith(KILLED)


@dataclass(frozen=True)
class Task:
    """A job's share of work for one worker.

    Attributes:
        job: the job's index in the plan (1-based).
        shard: ``(i, n)`` for a score job's shard; ``None`` for a train job.
    """

    job: int
    shard: tuple[int, int] | None = None

    @property
    def tag(self) -> str:
        return f"job{self.job}" + (f"-shard{self.shard[0]}of{self.shard[1]}" if self.shard
                                   else "")


def run_task(plan: Plan, task: Task, stop: Callable[[], bool],
             log: Callable[[str], None] | None = None) -> str:
    """Run ``task`` until it is done or ``stop()`` is true.

    Returns:
        :data:`FINISHED` or :data:`STOPPED`.

    Raises:
        harness.run.scoring.EstimatorBroken: an estimator failed on each of its first cells.
    """
    job = find_job(plan, task.job)
    if isinstance(job, ScoreJob):
        ests = pending_estimators(job, plan)
        if not ests:
            return FINISHED
        session = Session.create(ests, job.split, job_config(job, plan, shard=task.shard))
        with isolated(session):  # untrusted estimators are scored in workers of their own
            ckpts = score_split(session, stop=stop)
        ids = session.split.arch_ids
        wanted = {(ids[p], s) for p in session.positions for s in job.seeds}
        complete = all(wanted <= c.records.keys() for c in ckpts.values())
        return FINISHED if complete else STOPPED
    say = log or (lambda msg: sys.stderr.write(msg + "\n"))
    return FINISHED if run_train_job(job, plan, stop, say) else STOPPED
