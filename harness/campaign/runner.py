"""Running a campaign: the plan's missing work, in order, on a time budget, resumable.

The runner turns every unfinished job into tasks (a score job into a few round-robin shards
per worker, :func:`score_tasks`; a train job into one task) and keeps ``workers`` of them
running, in plan order. When all tasks of a score job have finished its cells, the runner
merges the shards into the job's results files (:func:`harness.run.merge_shards`) and removes
the job's journals, which the results and scores files now hold.

At the budget -- or on SIGINT / SIGTERM -- no task is started any more and the running ones
stop at their next cell (or training step); every finished cell is in a journal, so the next
campaign run (possibly from a fresh clone that has the committed journals) continues where
this one stopped. A second campaign on the same results directory is refused
(:class:`CampaignLock`).

A task whose worker the system kills (SIGKILL that the runner did not send: on Linux the
out-of-memory killer, as when one large network of a split needs most of the machine's memory)
while other tasks ran beside it is tried once more, alone: it waits until the running tasks
end, and nothing starts beside it. Its journaled cells are kept, so the retry starts where the
kill left it. Killed again, or killed while alone, it fails its job as any error does.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import results
from harness.campaign.executors import InlineExecutor, LocalExecutor
from harness.campaign.plan import Plan, ScoreJob, find_job
from harness.campaign.status import JobStatus, job_config, job_status, pending_estimators
from harness.campaign.tasks import FINISHED, STOPPED, Task, was_killed
from harness.run.pipeline import merge_shards
from harness.run.progress import format_duration

#: Share of the machine's memory the runner plans to use for its workers.
MEMORY_SHARE = 0.9
#: Shards of a score job per worker (see :func:`score_tasks`).
SHARDS_PER_WORKER = 4
POLL_S = 2.0


class CampaignError(RuntimeError):
    """A campaign that cannot start or go on; one line for the user."""


def parse_budget(text: str) -> float:
    """``"2h30m"``, ``"90m"``, ``"45s"``, ``"1h"`` or plain seconds → seconds.

    Raises:
        ValueError: naming the accepted forms.
    """
    raw = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = float(raw)
    else:
        m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", raw)
        if not raw or m is None or not any(m.groups()):
            raise ValueError(f"--budget must look like 2h30m, 90m, 45s or seconds, not {text!r}")
        h, mi, s = (int(g) if g else 0 for g in m.groups())
        seconds = 3600.0 * h + 60.0 * mi + s
    if seconds <= 0:
        raise ValueError(f"--budget must be positive, not {text!r}")
    return seconds


def memory_budget_mb() -> float:
    """What the workers together may hold: :data:`MEMORY_SHARE` of the machine's memory."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return MEMORY_SHARE * int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return MEMORY_SHARE * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


class CampaignLock:
    """An exclusive lock per results directory (``flock``: released when the process dies,
    even by ``kill -9``, so a stale lock never blocks the next run).

    The lock file lives in the system's temporary directory, named by the directory's path,
    so that no lock file ever lands in the (committed) results directory.

    Raises:
        CampaignError: when another campaign holds it, naming its pid, plan and start.
    """

    def __init__(self, results_dir: Path, plan: Path):
        key = hashlib.sha256(str(Path(results_dir).resolve()).encode()).hexdigest()[:16]
        self.path = Path(tempfile.gettempdir()) / f"estbench-campaign-{key}.lock"
        self.results_dir, self.plan = results_dir, plan
        self._fh: Any = None

    def __enter__(self) -> CampaignLock:
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                who = json.loads(fh.read() or "{}")
            except ValueError:
                who = {}
            fh.close()
            raise CampaignError(
                f"another campaign is running on {self.results_dir} (pid {who.get('pid', '?')}, "
                f"plan {who.get('plan', '?')}, started {who.get('started', '?')}); wait for it "
                f"or stop it with kill -TERM {who.get('pid', '<pid>')} (it stops at a cell "
                "boundary and keeps every finished cell)") from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "plan": str(self.plan),
                             "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}))
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


# --------------------------------------------------------------------------------------------
# the runner
# --------------------------------------------------------------------------------------------


def eta_seconds(st: JobStatus, rate: float) -> float:
    """Seconds until a running job is done, from its observed ``rate`` (units per second).

    A train job's progress on disk moves in jumps (an epoch checkpoint at each save,
    ``step.pt`` every :data:`~harness.campaign.train_task.STEP_EVERY_S` seconds, none while a
    checkpoint is scored), so its observed rate lags by up to a save interval. One worker
    trains it, so the epoch time in the run's own log (this machine's epochs once there are
    three) is the better clock; the scoring of its checkpoints comes on top.
    """
    if st.kind == "train" and st.cost_source == "journal" and st.seconds_per_unit:
        return st.left * st.seconds_per_unit
    return st.left / rate if rate > 0 else float("inf")


@dataclass
class CampaignReport:
    """What a campaign run did.

    Attributes:
        finished: labels of jobs completed (and merged) by this run.
        failed: job label → what went wrong.
        stopped_by: ``"budget"``, ``"signal"`` or ``None`` (nothing left).
        left: statuses of the jobs still unfinished at the end.
    """

    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    stopped_by: str | None = None
    left: list[JobStatus] = field(default_factory=list)


def _shards(st: JobStatus, workers: int, mem_mb: float) -> int:
    """How many workers a score job gets: at most ``workers``, as many as fit in memory
    by its measured peak, and never more than it has cells left."""
    n = workers
    if st.peak_rss_mb:
        n = min(n, max(1, int(mem_mb // st.peak_rss_mb)))
    return max(1, min(n, int(st.left) or 1))


def score_tasks(st: JobStatus, workers: int, mem_mb: float) -> list[Task]:
    """The tasks of a score job: :data:`SHARDS_PER_WORKER` round-robin shards per worker it
    gets (one shard where it gets one worker), never more than it has cells left.

    Several small shards per worker, taken from one queue, keep the workers busy to the end
    of the job: with one shard each, the shard that started later -- when the other worker
    came free from the previous job -- runs on alone long after the first has finished.
    A shard whose cells another sharding of the job has already journaled takes them over
    (:func:`harness.run.journal.other_checkpoint_records`), so a job begun with other shards
    goes on where it stood, and the merge fills gaps across shardings.
    """
    n = _shards(st, workers, mem_mb)
    k = n if n == 1 else min(n * SHARDS_PER_WORKER, int(st.left) or 1)
    return [Task(st.index, (i, k)) for i in range(k)]


def finish_score_job(plan: Plan, job: ScoreJob, n_shards: int) -> None:
    """Merge a score job's shards into its results files, then remove its journals."""
    ests = pending_estimators(job, plan)
    merge_shards(ests, job.split, job_config(job, plan), n_shards)
    for est in ests:
        for path in results.checkpoint_paths(plan.results_dir_of(job), est.name, job.split):
            path.unlink()


class Campaign:
    """One ``campaign run``: see the module docstring.

    Args:
        plan: the validated plan.
        budget_s: seconds of work; then it stops cleanly.
        workers: tasks at once.
        executor: ``"local"`` (worker processes), ``"inline"`` (this process) or an object
            with ``start``, ``poll``, ``stop`` and ``running``.
        clock: wall-clock seconds (tests pass a fake one; it also drives the inline tasks'
            stop).
        write: where progress and messages go.
        tty: redraw the progress line in place.
        memory_mb: what the workers together may hold (default: :func:`memory_budget_mb`).
    """

    def __init__(self, plan: Plan, budget_s: float, workers: int = 2,
                 executor: str | Any = "local", clock: Callable[[], float] = time.time,
                 write: Callable[[str], None] | None = None, tty: bool = False,
                 memory_mb: float | None = None, sleep: Callable[[float], None] = time.sleep):
        if workers < 1:
            raise CampaignError(f"--workers must be >= 1, not {workers}")
        self.plan, self.workers, self.clock = plan, workers, clock
        self.deadline = clock() + budget_s
        self.write = write or (lambda s: (sys.stderr.write(s), sys.stderr.flush()))
        self.tty, self.sleep = tty, sleep
        self.memory_mb = memory_mb if memory_mb is not None else memory_budget_mb()
        self.signalled = 0
        if executor == "local":
            executor = LocalExecutor(plan)
        elif executor == "inline":
            executor = InlineExecutor(plan, self.should_stop)
        self.executor = executor
        self._last_line = -float("inf")

    def should_stop(self) -> bool:
        return bool(self.signalled) or self.clock() >= self.deadline

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signalled += 1
        self.executor.stop(hard=self.signalled > 2)

    def say(self, text: str) -> None:
        self.write(("\r\x1b[K" if self.tty else "") + text + "\n")

    def _progress(self, jobs: list[int], started: dict[int, tuple[float, float]]) -> None:
        """Redraw the progress line (on a terminal every 5 s, otherwise a line a minute);
        the jobs' states are read from their journals only when a line is due."""
        now = self.clock()
        if now - self._last_line < (5.0 if self.tty else 60.0):
            return
        self._last_line = now
        parts = []
        for st in (job_status(find_job(self.plan, j), self.plan) for j in jobs):
            t0, d0 = started[st.index]
            rate = (st.done - d0) / max(now - t0, 1e-9)
            eta = eta_seconds(st, rate)
            parts.append(f"job {st.index} {st.label}: {st.done:g}/{st.total:g} {st.unit}, "
                         f"{rate * 60:.1f}/min, ETA {format_duration(eta)}")
        line = (f"[campaign] {'; '.join(parts) or 'between jobs'}; budget left "
                f"{format_duration(max(self.deadline - now, 0))}")
        self.write(("\r\x1b[K" + line) if self.tty else line + "\n")

    def run(self) -> CampaignReport:
        """Work through the plan until done, the budget, or a signal."""
        report = CampaignReport()
        with CampaignLock(self.plan.results_dir, self.plan.path):
            old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                self._loop(report)
            finally:
                for s, h in old.items():
                    signal.signal(s, h)
        report.stopped_by = ("signal" if self.signalled else
                             "budget" if self.clock() >= self.deadline and report.left else None)
        return report

    def _loop(self, report: CampaignReport) -> None:
        plan = self.plan
        todo = [st for st in (job_status(j, plan) for j in plan.jobs) if st.state != "done"]
        unfinished = {st.index for st in todo}

        def ready(task: Task) -> bool:  # a score job waits for the train jobs it loads
            job = find_job(plan, task.job)
            return not (isinstance(job, ScoreJob) and unfinished.intersection(job.after))

        queue: list[Task] = []
        tasks_of: dict[int, set[Task]] = {}
        outcomes: dict[int, dict[Task, str]] = {}
        for st in todo:
            job = find_job(plan, st.index)
            if isinstance(job, ScoreJob):
                tasks = score_tasks(st, self.workers, self.memory_mb)
            else:
                tasks = [Task(st.index)]
            queue += tasks
            tasks_of[st.index] = set(tasks)
            outcomes[st.index] = {}
        status = {st.index: st for st in todo}
        peak = {st.index: st.peak_rss_mb or 0.0 for st in todo}
        running: set[Task] = set()
        started: dict[int, tuple[float, float]] = {}
        # A task the system killed (out of memory, as a rule) while other tasks ran beside it
        # gets one more try alone: nothing starts beside it, and it waits for those running.
        alone: set[Task] = set()
        crowded: set[Task] = set()  # tasks that have run beside another one
        while queue or running:
            while len(running) < self.workers and not self.should_stop():
                task = next((t for t in queue if ready(t)), None)
                if task is None or alone.intersection(running) or (running and (
                        task in alone or sum(peak[t.job] for t in running)
                        + peak[task.job] > self.memory_mb)):
                    break
                queue.remove(task)
                if running:
                    crowded.update(running | {task})
                if task.job not in started:
                    started[task.job] = (self.clock(), status[task.job].done)
                    n_tasks = len(tasks_of[task.job])
                    self.say(f"[campaign] job {task.job}: {status[task.job].label} "
                             + (f"({n_tasks} shards, {min(n_tasks, self.workers)} at a time)"
                                if n_tasks > 1 else "(1 worker)"))
                running.add(task)
                self.executor.start(task, self.deadline)
            if not running:
                break
            ended = self.executor.poll()
            for task, outcome in ended.items():
                running.discard(task)
                if (was_killed(outcome) and task in crowded and task not in alone
                        and not self.should_stop()):
                    alone.add(task)
                    queue.insert(0, task)
                    where = f" shard {task.shard[0]}/{task.shard[1]}" if task.shard else ""
                    self.say(f"[campaign] job {task.job}{where} was killed by the system "
                             "(out of memory, most likely) beside other tasks; it runs again "
                             "alone once they end (its journaled cells are kept)")
                    continue
                outcomes[task.job][task] = outcome
                if outcome not in (FINISHED, STOPPED):  # failed: its other shards would too
                    tasks_of[task.job] -= {t for t in queue if t.job == task.job}
                    queue = [t for t in queue if t.job != task.job]
                if (outcomes[task.job].keys() == tasks_of[task.job]
                        and self._job_ended(task.job, outcomes[task.job], report)):
                    unfinished.discard(task.job)
            if self.executor.running:
                self._progress(sorted({t.job for t in running}), started)
                self.sleep(POLL_S)
        for index in sorted({t.job for t in queue if not ready(t)}):
            deps = sorted(unfinished.intersection(find_job(plan, index).after))
            self.say(f"[campaign] job {index} waits for job(s) {', '.join(map(str, deps))}, "
                     "whose supernet(s) it scores; the next run starts it once they are done")
        report.left = [st for st in (job_status(j, plan) for j in plan.jobs)
                       if st.state != "done"]

    def _job_ended(self, index: int, outcomes: dict[Task, str], report: CampaignReport) -> bool:
        """Report a job whose tasks have all ended; whether it is now done."""
        job = find_job(self.plan, index)
        errors = [o for o in outcomes.values() if o not in (FINISHED, STOPPED)]
        if errors:
            report.failed[job.label] = errors[0]
            self.say(f"[campaign] job {index} failed: {errors[0]}")
            return False
        if any(o == STOPPED for o in outcomes.values()):
            st = job_status(job, self.plan)
            self.say(f"[campaign] job {index} stopped at {st.done:g}/{st.total:g} {st.unit} "
                     "(journaled; the next run continues it)")
            return False
        if isinstance(job, ScoreJob):
            n = max(t.shard[1] for t in outcomes)
            self.say(f"[campaign] job {index} scored; merging {n} shard(s)")
            try:
                finish_score_job(self.plan, job, n)
            except Exception as exc:  # the shards stay; the next run merges again
                report.failed[job.label] = f"merge failed: {type(exc).__name__}: {exc}"
                self.say(f"[campaign] job {index} merge failed: {exc}")
                return False
        report.finished.append(job.label)
        self.say(f"[campaign] job {index} done: {job.label}")
        return True


def continue_command(plan: Plan, budget: str, workers: int, results_dir: str | None) -> str:
    """The one command that continues this campaign."""
    cmd = f"python -m harness campaign run {plan.path} --budget {budget} --workers {workers}"
    return cmd + (f" --results-dir {results_dir}" if results_dir else "")
