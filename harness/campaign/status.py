"""Where each job of a plan stands, and what the rest costs in CPU-hours.

A score job is *done* when the results file of every estimator covers it with the same
protocol (estimator version, split hash, batches, batch size, options, device type, and every
seed of the job). Otherwise it is *partial* when some of its cells are already scored -- in a
checkpoint journal of the same scoring key (any sharding), or as a seed of the results file
that the runner will take over (:mod:`harness.run.stored`) -- and *missing* when none are.
A train job is done when its final epoch checkpoint exists (and, for a job that scores its
checkpoints, when the results with the curve are written), partial at epoch ``k`` (and step)
of ``K``.

Costs come from measurements, best first, and each job says which one it used: the job's own
journal (``journal``), the committed result of the same estimator and split (``results``), its
committed standalone cost on the split (``standalone``: ``harness cost``, each estimator alone,
so jointly scored estimators that share passes are over-counted), a short probe of a few cells
(``probe``), or the estimator's results on other splits (``other splits``, an estimate: those
of the train jobs the job waits for first, which scored the same supernet). A job with none of
these has no estimate (``unknown``).

Each job also says which device models its cost was measured on (``measured_on``). A cost does
not carry over from one CPU kind to another (on the Intel machine a 1-cell supernet's epoch
is 1.2-1.7x slower than on the AMD one, a paper-shape epoch faster), so a journal's or a
training log's own measurements on this machine are preferred once there are enough of them,
and ``campaign status`` names the jobs whose estimate comes from another device.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness import data, registry, results
from harness.campaign.plan import Job, Plan, ScoreJob, TrainJob, find_job
from harness.campaign.train_task import results_written
from harness.oneshot import checkpoints as train_ckpts
from harness.oneshot.images import load_split_images, steps_per_epoch
from harness.oneshot.sampling import make_sampler
from harness.oneshot.training import UNRECORDED, epoch_device, train
from harness.run import standalone
from harness.run.config import RunConfig
from harness.run.environment import device_name
from harness.run.journal import read_checkpoint
from harness.run.scoring import score_cell
from harness.run.session import Session
from harness.run.stored import covering_result, reusable_result

COST_SOURCES = ("journal", "results", "standalone", "probe", "other splits", "other runs",
                "unknown")
#: Measurements on this machine replace those of other machines once there are this many.
MIN_LOCAL = 3


def this_device() -> str:
    """The device model campaign work runs on here (what :func:`job_config` picks)."""
    return device_name("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class JobStatus:
    """One job's state.

    Attributes:
        index: the job's position in the plan.
        label: what the job is.
        kind: ``"score"`` or ``"train"``.
        state: ``"done"``, ``"partial"`` or ``"missing"``.
        done: cells (score) or epochs (train, fractional mid-epoch) finished.
        total: cells or epochs in all.
        unit: ``"cells"`` or ``"epochs"``.
        seconds_per_unit: measured cost of one cell (all estimators together) or one epoch.
        cost_source: one of :data:`COST_SOURCES`.
        peak_rss_mb: the largest measured resident memory of one worker on this job.
        state_files: resumable state of an unfinished job (journals, the latest checkpoint).
        kept_files: what a finished train job's results rest on, to commit once: its
            ``config.json``, ``removed.json`` and final checkpoint (``runs/README.md``).
        seconds_left: the work left in CPU-seconds, where it is not ``left`` times
            ``seconds_per_unit`` (a joint job whose estimators are at different cells).
        waits_for: unfinished train jobs whose runs this score job loads (it starts after).
        measured_on: the device models the cost was measured on (``"unrecorded"`` for
            measurements older than the record of the model).
    """

    index: int
    label: str
    kind: str
    state: str
    done: float
    total: float
    unit: str
    seconds_per_unit: float | None = None
    cost_source: str = "unknown"
    peak_rss_mb: float | None = None
    state_files: list[str] = field(default_factory=list)
    seconds_left: float | None = None
    waits_for: list[int] = field(default_factory=list)
    measured_on: list[str] = field(default_factory=list)
    kept_files: list[str] = field(default_factory=list)

    @property
    def left(self) -> float:
        return max(self.total - self.done, 0)

    @property
    def cpu_hours_left(self) -> float | None:
        """CPU-hours left (0 when nothing is; ``None`` without a cost estimate)."""
        if self.left == 0:
            return 0.0
        if self.seconds_per_unit is None:
            return None
        if self.seconds_left is not None:
            return self.seconds_left / 3600.0
        return self.left * self.seconds_per_unit / 3600.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_hours_left"] = self.cpu_hours_left
        return d


def job_config(job: ScoreJob, plan: Plan, **over: Any) -> RunConfig:
    """The :class:`RunConfig` a score job is run with (one thread per worker); a job of
    one-shot estimators loads its supernets from the plan's ``train_dir``, where its train
    jobs put them."""
    base = dict(seeds=job.seeds, n_batches=job.n_batches, batch_size=job.batch_size,
                device="cuda" if torch.cuda.is_available() else "cpu",
                data_dir=str(data.resolve_data_dir(None)), results_dir=plan.results_dir_of(job),
                threads=1, options=dict(job.options))
    if job.loads_supernets:
        base["cache_dir"] = plan.train_dir
    base.update(over)
    return RunConfig(**base)


def _load(path: Path) -> results.ResultFile | None:
    try:
        return results.load_result(path) if path.is_file() else None
    except (results.ResultsSchemaError, OSError, KeyError, ValueError):
        return None


def _other_results(results_dir: Path, est_name: str, split: str) -> list[results.ResultFile]:
    folder = Path(results_dir) / est_name
    if not folder.is_dir():
        return []
    found = (_load(p) for p in sorted(folder.glob("*.json")) if p.stem != split)
    return [r for r in found if r is not None]


def _prefer_local(rows: list, name_of, here: str) -> list:
    """``rows`` measured on ``here`` when there are :data:`MIN_LOCAL` of them, else all."""
    local = [r for r in rows if name_of(r) == here]
    return local if len(local) >= MIN_LOCAL else rows


def _record_device(rec) -> str:
    return (rec.env or {}).get("device_name") or UNRECORDED


def _journal_cost(recs: Iterable, here: str) -> tuple[float, set[str]] | None:
    """Mean seconds per cell of a journal's own successful records, and where they were
    measured: this machine's records alone once there are enough of them."""
    own = [r for r in recs if r.origin is None and r.failure is None]
    use = _prefer_local(own, _record_device, here)
    if len(use) < MIN_LOCAL:
        return None
    return statistics.fmean(r.wall_s for r in use), {_record_device(r) for r in use}


def _session(job: ScoreJob, plan: Plan, **over: Any) -> Session:
    return Session.create(registry.resolve(",".join(job.estimators)), job.split,
                          job_config(job, plan, **over))


def pending_estimators(job: ScoreJob, plan: Plan) -> list:
    """The job's estimators whose results file does not cover it yet (a job is scored and
    merged for these only, so finished results are never rewritten)."""
    session = _session(job, plan)
    return [est for est in session.estimators if covering_result(session, est) is None]


def _fallback_cost(plan: Plan, job: ScoreJob, est_name: str, benchmark: str
                   ) -> tuple[float, float | None, set[str]] | None:
    """Mean cost, largest peak memory and devices of the estimator's results on other
    splits: first those that the train jobs ``job`` waits for wrote (they scored the very
    supernets this job loads, whose shape sets the cost: a paper-shape supernet costs several
    times a 1-cell one), then those of the same benchmark, then any."""
    waited = [r for d in dict.fromkeys(plan.results_dir_of(find_job(plan, i)) for i in job.after)
              for r in _other_results(d, est_name, job.split)]
    others = _other_results(plan.results_dir, est_name, job.split)
    same = [r for r in others if r.split.benchmark == benchmark]
    use = waited or same or others
    if not use:
        return None
    return (statistics.fmean(r.cost.wall_s_per_arch_mean for r in use),
            max(r.cost.peak_rss_mb for r in use), {r.environment.device_name for r in use})


def _standalone_cost(est, session: Session) -> tuple[float, float, str] | None:
    """The estimator's committed standalone cost on this split (``harness cost``: median
    seconds per architecture alone on one thread, peak memory, and the device), if it was
    measured for this estimator version, split file, batch size and batches."""
    cfg = session.cfg
    try:
        cost = standalone.read(standalone.cost_path(standalone.COSTS_DIR, est.name,
                                                    session.split.name))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    same = (cost.estimator_version == str(est.info.version)
            and cost.split_sha256 == session.split.sha256 and cost.batch_size == cfg.batch_size
            and cost.n_batches == cfg.n_batches)
    where = cost.environment.get("device_name") or UNRECORDED
    return (cost.s_per_arch_median, cost.peak_rss_mb, where) if same else None


def score_status(job: ScoreJob, plan: Plan) -> JobStatus:
    """The state of a score job from its results files and journals."""
    session = _session(job, plan)
    ids = session.split.arch_ids
    wanted = {(a, s) for a in ids for s in job.seeds}
    pending = {e.name for e in pending_estimators(job, plan)}
    done_keys, costs, sources, peaks, files = set(wanted), [], [], [], []
    measured_on: set[str] = set()
    here = this_device()
    seconds_left = 0.0  # each estimator's own cells left times its own cost
    some = False  # some estimator has some cell
    for est in session.estimators:
        if est.name not in pending:
            continue
        res = _load(results.results_path(plan.results_dir_of(job), est.name, job.split))
        keys: set = set()
        stored = reusable_result(session, est)
        if stored is not None:
            keys |= {(a, s) for a in ids for s in set(stored.protocol.seeds) & set(job.seeds)}
        journal = []
        for path in results.checkpoint_paths(plan.results_dir_of(job), est.name, job.split):
            recs = read_checkpoint(path, session.scoring_key(est))
            if recs:
                journal.extend(recs.values())
                keys |= recs.keys()
                files.append(str(path))
        done_keys &= keys
        some = some or bool(keys & wanted)
        cost = _journal_cost(journal, here)
        fallback = _fallback_cost(plan, job, est.name, session.split.benchmark)
        alone = _standalone_cost(est, session)
        if cost is not None:
            costs.append(cost[0])
            sources.append("journal")
            measured_on |= cost[1]
        elif res is not None:
            costs.append(res.cost.wall_s_per_arch_mean)
            sources.append("results")
            measured_on.add(res.environment.device_name)
        elif alone is not None:
            costs.append(alone[0])
            sources.append("standalone")
            measured_on.add(alone[2])
        elif fallback is not None:
            costs.append(fallback[0])
            sources.append("other splits")
            measured_on |= fallback[2]
        else:
            sources.append("unknown")
        if sources[-1] != "unknown":
            seconds_left += costs[-1] * len(wanted - keys)
        peaks.append(res.cost.peak_rss_mb if res is not None else
                     alone[1] if alone is not None else
                     fallback[1] if fallback is not None else None)
    if not pending:
        return JobStatus(job.index, job.label, "score", "done", len(wanted), len(wanted),
                         "cells", None, "results")
    done = len(done_keys)
    state = "partial" if some or len(pending) < len(session.estimators) else "missing"
    source = max(sources, key=COST_SOURCES.index)
    known_peaks = [p for p in peaks if p is not None]
    return JobStatus(job.index, job.label, "score", state, done, len(wanted), "cells",
                     sum(costs) if source != "unknown" else None, source,
                     max(known_peaks) if known_peaks else None, files, seconds_left,
                     measured_on=sorted(measured_on) if source != "unknown" else [])


def _epoch_seconds(log: list[dict], here: str) -> tuple[float, set[str]] | None:
    """Mean seconds per epoch of a training log, and where the epochs ran: this machine's
    epochs alone once there are enough of them."""
    timed = _prefer_local([r for r in log if r.get("seconds")], epoch_device, here)
    if not timed:
        return None
    return statistics.fmean(r["seconds"] for r in timed), {epoch_device(r) for r in timed}


def train_status(job: TrainJob, plan: Plan) -> JobStatus:
    """The state of a train job from its checkpoints under the plan's ``train_dir``."""
    cfg, root = job.config, plan.train_dir
    epochs = train_ckpts.available_epochs(root, cfg)
    # With keep = "latest" the one epoch checkpoint left, or none once step.pt superseded it.
    latest = epochs[-1] if epochs else 0
    done, log, files = float(latest), [], []
    if latest:
        path = train_ckpts.checkpoint_path(root, cfg, latest)
        log = train_ckpts.load_checkpoint(path).get("log", [])
        # Every checkpoint on disk: the latest resumes the run, an earlier one is either a
        # curve point still to score (keep = "latest") or one that a later job scores.
        files = [str(train_ckpts.checkpoint_path(root, cfg, e)) for e in epochs]
    step = train_ckpts.step_checkpoint_path(root, cfg)
    if step.is_file() and latest < cfg.epochs:
        st = train_ckpts.load_checkpoint(step)
        if st["global_step"] > latest * st["steps_per_epoch"]:
            done = st["global_step"] / st["steps_per_epoch"]
            log = st.get("log", log)
            files.append(str(step))
    if files:
        # removed.json is part of the state: it says which epochs are reached (and scored)
        # although their checkpoints are gone, so a copy resumes where this one stands.
        rdir = train_ckpts.run_dir(root, cfg)
        removed = rdir / train_ckpts.REMOVED_FILE
        files[:0] = [str(rdir / "config.json")] + ([str(removed)] if removed.is_file() else [])
    here = this_device()
    own, source = _epoch_seconds(log, here), "journal"
    if own is not None:
        per_epoch, measured_on = own[0], own[1]
    else:
        source = "other runs"  # runs of the same shape: an estimate
        same = [r for r in train_ckpts.list_runs(root)
                if r.config.space == cfg.space and r.config.supernet == cfg.supernet
                and r.config.batch_size == cfg.batch_size and r.config.subset == cfg.subset
                and r.epochs]
        secs = [s for r in same for s in [_epoch_seconds(train_ckpts.load_checkpoint(
            train_ckpts.checkpoint_path(root, r.config, r.epochs[-1])).get("log", []), here)]
            if s is not None]
        per_epoch = statistics.fmean(s for s, _ in secs) if secs else None
        measured_on = set().union(*(names for _, names in secs))
        source = source if secs else "unknown"
    state = "done" if latest >= cfg.epochs else "partial" if done else "missing"
    if state == "done" and job.score is not None and not results_written(job, plan):
        state = "partial"
    # Trained to the end: the final checkpoint (the last file) with the run's config and
    # removed.json; for a job whose results are still to be written, also its state.
    final = ([f for f in files if not Path(f).name.startswith("epoch_")] + files[-1:]
             if latest >= cfg.epochs else [])
    if state == "partial" and final:
        files = final
    return JobStatus(job.index, job.label, "train", state, round(done, 3), cfg.epochs,
                     "epochs", per_epoch, source, None, [] if state == "done" else files,
                     measured_on=sorted(measured_on),
                     kept_files=final if state == "done" else [])


def job_status(job: Job, plan: Plan) -> JobStatus:
    return score_status(job, plan) if isinstance(job, ScoreJob) else train_status(job, plan)


def probe_cost(job: ScoreJob, plan: Plan, cells: int = 3) -> float:
    """Seconds per cell of a score job, measured now on ``cells`` architectures spread over
    the split (first seed, one thread, nothing written)."""
    ests = pending_estimators(job, plan)
    session = Session.create(ests, job.split, job_config(job, plan))
    torch.set_num_threads(1)
    n = len(session.split)
    positions = sorted({round(k * (n - 1) / max(cells - 1, 1)) for k in range(cells)})
    seed = job.seeds[0]
    states = session.states(seed)
    times = []
    for p in positions:
        t0 = time.perf_counter()
        score_cell(session, ests, p, seed, states)
        times.append(time.perf_counter() - t0)
    return statistics.fmean(times)


def probe_train_cost(job: TrainJob, plan: Plan, steps: int = 3) -> float:
    """Seconds per epoch of a train job, timed over ``steps`` training steps (after one
    untimed warm-up step) of its supernet, one thread, in a scratch directory."""
    torch.set_num_threads(1)
    cfg = job.config
    images = load_split_images(cfg, None)
    sampler = make_sampler(cfg.sampler, None, cfg.space)

    def stop_after(n: int):
        asked = []
        return lambda: bool(asked.append(1)) or len(asked) > n

    with tempfile.TemporaryDirectory() as scratch:
        kw = dict(cache_dir=scratch, log=None, images=images, sampler=sampler, resume=False)
        train(cfg, stop=stop_after(1), **kw)  # warm-up: allocations, kernel selection
        res = train(cfg, stop=stop_after(steps), **kw)
    return (res.seconds_per_step or 0.0) * steps_per_epoch(images, cfg.batch_size)


def plan_status(plan: Plan, probe: int = 0) -> list[JobStatus]:
    """Every job's status, in plan order; with ``probe`` > 0, jobs without a measured cost
    are probed: score jobs on that many cells, train jobs on that many steps (a score job
    that waits for a train job is not probed: its supernet does not exist yet)."""
    out = [job_status(job, plan) for job in plan.jobs]
    state = {st.index: st.state for st in out}
    for job, st in zip(plan.jobs, out, strict=True):
        if isinstance(job, ScoreJob):
            st.waits_for = [d for d in job.after if state[d] != "done"]
        if probe and st.state != "done" and not st.waits_for and st.cost_source in (
                "other splits", "other runs", "unknown"):
            st.seconds_per_unit = (probe_cost(job, plan, probe) if isinstance(job, ScoreJob)
                                   else probe_train_cost(job, plan, probe))
            st.seconds_left = None
            st.cost_source = "probe"
            st.measured_on = [this_device()]
    return out
