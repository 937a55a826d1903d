"""The pipeline: score → determinism check → finalize, for a run or a merge of shards."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from harness import api, results
from harness.run.config import RunConfig
from harness.run.curves import score_checkpoints
from harness.run.determinism import check_determinism
from harness.run.finalize import finalize
from harness.run.isolation import isolated
from harness.run.journal import (
    Checkpoint,
    Records,
    key_differences,
    mark_finalized,
    other_checkpoint_records,
    read_checkpoint,
)
from harness.run.scoring import EstimatorBroken, ProgressFn, score_split
from harness.run.session import Session
from harness.run.stored import check_replacement
from harness.splits import Split


def run_session(session: Session, progress: ProgressFn | None = None
                ) -> dict[str, results.ResultFile]:
    """Score the session's split, check the contract, write one result per estimator.

    Raises:
        UsageError: before any scoring, when replacing a results file would lose seeds or a
            result of other settings (:func:`~harness.run.stored.check_replacement`).
    """
    check_replacement(session)
    with isolated(session):
        try:
            ckpts = score_split(session, progress)
        except EstimatorBroken as exc:
            # A broken estimator stops alone: the others were scored to the end and their
            # results are written before the error goes up.
            healthy = [e for e in session.estimators if e.name not in exc.broken]
            exc.results = _finalize_all(session, healthy, exc.checkpoints)
            raise
        if session.cfg.curve:
            score_checkpoints(session, progress)
        return _finalize_all(session, list(session.estimators), ckpts)


def _finalize_all(session: Session, ests: list[api.Estimator], ckpts: dict[str, Checkpoint]
                  ) -> dict[str, results.ResultFile]:
    out = {}
    for est in ests:
        recs = ckpts[est.name].records
        out[est.name] = finalize(session, est, recs, check_determinism(session, est, recs))
        mark_finalized(ckpts[est.name].path)
    return out


def run(estimators: Sequence[api.Estimator], split: Split | str, cfg: RunConfig,
        progress: ProgressFn | None = None) -> dict[str, results.ResultFile]:
    """Score ``split`` with ``estimators`` jointly; results by estimator name."""
    return run_session(Session.create(estimators, split, cfg), progress)


class MergeError(RuntimeError):
    """Shard checkpoints that cannot be merged (missing, other settings, gaps)."""


def merged_records(session: Session, est: api.Estimator, n_shards: int) -> Records:
    """The records of shards ``0/N .. N-1/N`` (gaps filled from finer re-shardings).

    Raises:
        MergeError: naming the missing or mismatching shard, and the seeds it holds.
    """
    cfg, split = session.cfg, session.split
    key = session.scoring_key(est)
    merged: Records = {}
    for i in range(n_shards):
        path = results.checkpoint_path(cfg.results_dir, est.name, split.name, f"{i}/{n_shards}")
        if not path.is_file():
            raise MergeError(f"shard {i}/{n_shards} of {est.name} on {split.name} is missing "
                             f"({path}); run it with --shard={i}/{n_shards}")
        recs = read_checkpoint(path, key)
        if recs is None:
            diff = key_differences(path, key)
            said = "; ".join(f"{k}: shard {a!r}, merge {b!r}" for k, (a, b) in diff.items())
            raise MergeError(f"{path} was scored with other settings ({said}); pass the "
                             "shards' options to merge")
        merged.update(recs)
    # Fill gaps from finer re-shardings (``1/4`` + ``3/4`` finishing an unfinished ``1/2``).
    wanted = {(a, s) for a in split.arch_ids for s in cfg.seeds} - merged.keys()
    if wanted:
        extra = other_checkpoint_records(session.checkpoint_path(est), cfg.results_dir,
                                         est.name, split.name, key)
        merged.update({k: extra[k] for k in wanted if k in extra})
    return merged


def merge_shards(estimators: Sequence[api.Estimator], split: Split | str, cfg: RunConfig,
                 n_shards: int) -> dict[str, results.ResultFile]:
    """Combine the checkpoints of shards ``0/N .. N-1/N`` into one result per estimator.

    The merged checkpoint is written as the unsharded one, so the final files are identical
    to those of an unsharded run (apart from timing fields). A population-level estimator's
    aggregation runs here, over the whole split.
    """
    session = Session.create(estimators, split, dataclasses.replace(cfg, shard=None))
    check_replacement(session)
    if session.cfg.curve:
        score_checkpoints(session)
    out = {}
    with isolated(session):  # the determinism check re-scores cells
        for est in session.estimators:
            merged = merged_records(session, est, n_shards)
            # An unsharded checkpoint already there is kept (merged in), never silently
            # replaced; one made with other settings stops the merge (CheckpointMismatch).
            ck = Checkpoint(session.checkpoint_path(est), session.scoring_key(est), resume=True)
            merged = {**ck.records, **merged}
            ck.replace_all(merged)
            ck.close()
            out[est.name] = finalize(session, est, merged,
                                     check_determinism(session, est, merged))
            mark_finalized(ck.path)
    return out


def report(out: dict[str, results.ResultFile], split_name: str) -> int:
    """Print one line per estimator's results; exit status 1 if any contract failed."""
    bad = 0
    for name, res in out.items():
        status = "ok" if res.contract_ok else "CONTRACT FAILED: " + "; ".join(
            res.contract_problems)
        bad += not res.contract_ok
        tau = res.metrics.mean["kendall"] if res.metrics is not None else None
        print(f"{name} on {split_name}: Kendall τ {tau}, {status}")
    return 1 if bad else 0
