"""A train job's work: train to each checkpoint, score it as it is saved, keep what resuming
needs, and write the results with the whole curve at the end.

Without ``score`` a train job only trains (every checkpoint of ``save_every`` is kept). With
``score = {estimators, split, options}`` each saved checkpoint but the last is scored at once
(:func:`harness.run.curves.store_checkpoint_scores`): its curve point lives in the curve store
under ``<train_dir>/curves/`` as numbers. With ``keep = "latest"`` an earlier checkpoint is
then deleted (recorded, with its SHA-256, in the run's ``removed.json``), so a run costs the
repository one checkpoint, not one per curve point. After the final epoch the estimators'
results are written with ``--curve``: the final checkpoint is scored and verified as in any
run, earlier points come from the store.

Every step is resumable: a stop mid-epoch leaves ``step.pt``; a stop while scoring a
checkpoint leaves that checkpoint (it is deleted only once its scores are stored). ``step.pt``
is also saved every :data:`STEP_EVERY_S` seconds of training, so that a kill that no stop
precedes (``kill -9``, the machine taken away, memory) loses at most that much. With
``keep = "latest"`` a stopped run keeps one resume point: once ``step.pt`` is past the latest
epoch checkpoint and that checkpoint's curve point is stored, the checkpoint is removed too
(:func:`supersede_by_step`), so what a session commits is the run's config, ``removed.json``
and ``step.pt``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from harness import data
from harness.campaign.plan import Plan, TrainJob
from harness.oneshot import checkpoints
from harness.oneshot.images import load_split_images
from harness.oneshot.sampling import make_sampler
from harness.oneshot.training import default_save_epochs, train
from harness.registry import resolve
from harness.run.config import RunConfig
from harness.run.curves import curve_store_path, store_checkpoint_scores
from harness.run.pipeline import run_session
from harness.run.session import Session
from harness.run.stored import covering_result

LogFn = Callable[[str], None]
#: A paper-shape epoch takes 6-10 minutes on one CPU thread: without periodic step checkpoints
#: a kill would lose up to one, and an NAS-Bench-301 one more.
STEP_EVERY_S = 600.0


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def scoring_config(job: TrainJob, plan: Plan, epoch: int | None = None) -> RunConfig:
    """How a scored train job's estimators run: the run's seed, its options (plus
    ``checkpoint_epoch`` for a curve point), one thread, checkpoints under ``train_dir``,
    results in the job's own ``results_dir`` if it names one, else the campaign's.
    ``epoch=None``: the final results, with the curve."""
    assert job.score is not None
    options = dict(job.score.options)
    if epoch is not None:
        options["checkpoint_epoch"] = epoch
    return RunConfig(seeds=(job.config.seed,), device=_device(),
                     data_dir=str(data.resolve_data_dir(None)),
                     results_dir=plan.results_dir_of(job),
                     cache_dir=plan.train_dir, threads=1, options=options,
                     curve=epoch is None)


def scoring_session(job: TrainJob, plan: Plan, epoch: int | None = None) -> Session:
    """The session of one checkpoint's scores (``epoch``) or of the final results."""
    assert job.score is not None
    return Session.create(resolve(",".join(job.score.estimators)), job.score.split,
                          scoring_config(job, plan, epoch))


def points_stored(session: Session) -> bool:
    """Whether every estimator and seed of ``session`` has its scores in the curve store."""
    for seed in session.cfg.seeds:
        states = session.states(seed)
        for est in session.estimators:
            path = curve_store_path(session, est, seed, states[est.name])
            if path is None or not path.is_file():
                return False
    return True


def _check_run(session: Session, job: TrainJob) -> None:
    """Every estimator must load this job's run (a wrong sampler would score another run)."""
    want = job.config.config_hash()
    for est in session.estimators:
        got = session.states(job.config.seed)[est.name].config.config_hash()
        if got != want:
            raise ValueError(f"job {job.index}: {est.name} loads run {got}, not this job's "
                             f"run {want} (another sampler?); score it in another train job")


def remove_scored_before(job: TrainJob, plan: Plan, epoch: int, say: LogFn) -> list[int]:
    """Delete the job's checkpoints before ``epoch`` whose scores are all stored."""
    removed = []
    for k in checkpoints.available_epochs(plan.train_dir, job.config):
        if k >= epoch:
            break
        if not points_stored(scoring_session(job, plan, k)):
            continue  # kept: its curve point is not stored yet
        checkpoints.remove_checkpoint(
            plan.train_dir, job.config, k,
            f"scores of {', '.join(job.score.estimators)} on {job.score.split} stored in the "
            f"curve store; a later checkpoint is the resume point")
        removed.append(k)
        say(f"[campaign] job {job.index}: removed checkpoint {k} (its curve point is stored)")
    return removed


def supersede_by_step(job: TrainJob, plan: Plan, say: LogFn) -> int | None:
    """With ``keep = "latest"``: when ``step.pt`` is past the job's latest epoch checkpoint and
    that checkpoint's curve point is stored, remove the checkpoint (recorded in
    ``removed.json``), so that ``step.pt`` alone is the run's resume point.

    A stopped run then leaves one set of weights to carry to the next machine, not two, and
    none of its training is lost. Returns the removed epoch, if any.
    """
    cfg, root = job.config, plan.train_dir
    epochs = checkpoints.available_epochs(root, cfg)
    if job.keep != "latest" or job.score is None or not epochs or epochs[-1] >= cfg.epochs:
        return None
    k, progress = epochs[-1], checkpoints.step_progress(root, cfg)
    if progress is None or progress <= k or not points_stored(scoring_session(job, plan, k)):
        return None  # no later resume point, or the checkpoint still has a point to give
    checkpoints.remove_checkpoint(
        root, cfg, k, f"scores of {', '.join(job.score.estimators)} on {job.score.split} stored "
        f"in the curve store; step.pt (epoch {progress:.3f}) is the resume point")
    say(f"[campaign] job {job.index}: removed checkpoint {k}: its curve point is stored and "
        f"step.pt (epoch {progress:.3f}) supersedes it")
    return k


def run_train_job(job: TrainJob, plan: Plan, stop: Callable[[], bool], say: LogFn) -> bool:
    """Do ``job``'s work until done or ``stop()``; returns whether it finished."""
    torch.set_num_threads(1)
    cfg, root = job.config, plan.train_dir
    saves = default_save_epochs(cfg.epochs, job.save_every)
    if job.score is None:
        res = train(cfg, cache_dir=root, device=_device(), save_epochs=saves, stop=stop,
                    log=say, step_every_s=STEP_EVERY_S)
        return not res.stopped
    images = load_split_images(cfg, None)
    sampler = make_sampler(cfg.sampler, None, cfg.space)
    supersede_by_step(job, plan, say)  # a kill after a periodic step save left both
    for k in saves:
        if k not in checkpoints.reached_epochs(root, cfg):
            res = train(cfg, cache_dir=root, device=_device(), save_epochs=[k], until_epoch=k,
                        images=images, sampler=sampler, stop=stop, log=say,
                        step_every_s=STEP_EVERY_S)
            if res.stopped:
                supersede_by_step(job, plan, say)
                return False
        if job.keep == "latest":
            # Checkpoint k is the resume point now: earlier scored ones go before k is scored,
            # so a stop while scoring k leaves only what a copy of the run needs.
            remove_scored_before(job, plan, k, say)
        if k < cfg.epochs and k in checkpoints.available_epochs(root, cfg):
            session = scoring_session(job, plan, k)
            _check_run(session, job)
            start = time.monotonic()
            computed = store_checkpoint_scores(session, stop=stop)
            if not points_stored(session):
                return False  # stopped while scoring: the checkpoint stays
            # The time of a checkpoint's scoring is what costs a later scoring of the same
            # supernet on another split (campaign status knows it only from results files).
            took = time.monotonic() - start
            n = len(session.split)
            say(f"[campaign] job {job.index}: checkpoint {k} scored into the curve store"
                + (f" ({n} cells in {took:.0f} s, {took / n:.3f} s/cell)" if computed else
                   " (its scores were stored already)"))
    if not results_written(job, plan):
        if stop():
            return False
        session = scoring_session(job, plan)
        _check_run(session, job)
        run_session(session)
        say(f"[campaign] job {job.index}: results with the curve written for "
            f"{', '.join(job.score.estimators)} on {job.score.split}")
    return True


def results_written(job: TrainJob, plan: Plan) -> bool:
    """Whether each estimator's results file holds this job's final scoring (same scoring
    key and seed)."""
    session = scoring_session(job, plan)
    return all(covering_result(session, est) is not None for est in session.estimators)
