"""Cell scoring: calling estimators under the contract, and scoring a session's split.

The contract: a real, finite number per (architecture, seed) (a dict of them for a
population-level estimator), within the per-architecture time limit. A violation is recorded
with its kind (``value``, ``raised``, ``timeout``) and never stops the run -- unless an
estimator fails on each of its first ``RunConfig.fail_fast`` architectures, which means it is
broken rather than unlucky. That estimator then stops, alone: the others of the run are scored
to the end, and :class:`EstimatorBroken` is raised after them with its first error.

An estimator in ``session.remote`` (``--isolate``, :mod:`harness.run.isolation`) is scored by
its worker process; :func:`score_cell` hands its cells there, so every phase (scoring, the
take-over probes, the determinism check) reaches it the same way.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from harness import api, torch_state
from harness.run.environment import current_environment, set_threads
from harness.run.journal import Checkpoint, Record, other_checkpoint_records
from harness.run.limits import ArchTimeout, call_with_timeout
from harness.run.session import Session
from harness.run.stored import take_over_stored_seeds

#: ``progress(label, done, total, rate, resumed)``; ``rate`` in cells per second of this run.
ProgressFn = Callable[[str, int, int, float, int], None]


class EstimatorBroken(RuntimeError):
    """Estimators failed on each of their first architectures and were stopped.

    Attributes:
        broken: estimator name -> the one-line reason.
        checkpoints: every estimator's checkpoint (closed); those not in ``broken`` were
            scored to the end and may be finalized.
        results: the results files of the others, when the caller finalized them.
    """

    def __init__(self, broken: dict[str, str], checkpoints: dict[str, Checkpoint] | None = None):
        self.broken = dict(broken)
        self.checkpoints = checkpoints or {}
        #: the results of the others, once finalized (:func:`harness.run.pipeline.run_session`)
        self.results: dict[str, Any] = {}
        super().__init__("; ".join(self.broken.values()))




def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_score(value: Any) -> tuple[float | None, str | None]:
    """Contract: a real number. Returns (score or None, problem or None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None, f"returned {type(value).__name__} ({_describe(value)}), not a float"
    v = float(value)
    if not math.isfinite(v):
        return None, f"returned non-finite value {v}"
    return v, None


def as_components(value: Any, names: Sequence[str]) -> tuple[dict | None, str | None]:
    """Contract of a population-level estimator: ``{component: finite float}`` with exactly
    the declared components."""
    if not isinstance(value, dict):
        return None, (f"returned {type(value).__name__} ({_describe(value)}), not a dict of "
                      f"the components {', '.join(names)}")
    if set(value) != set(names):
        return None, (f"returned components {sorted(value)}, not the declared "
                      f"{sorted(names)}")
    out = {}
    for name in names:
        v, problem = as_score(value[name])
        if problem:
            return None, f"component {name!r} {problem}"
        out[name] = v
    return out, None


def as_outputs(value: Any, est: api.Estimator) -> tuple[dict | None, str | None]:
    """Contract for one call of ``est``: its outputs by name (``{"score": v}`` for a scalar
    estimator, whose call must return a real number), or ``(None, problem)``."""
    if est.info.population_level:
        return as_components(value, est.info.components)
    v, problem = as_score(value)
    return (None, problem) if problem else ({api.SCORE: v}, None)


def score_cell(session: Session, ests: Sequence[api.Estimator], position: int, seed: int,
               states: dict[str, Any] | None = None, share: bool = True) -> dict[str, Record]:
    """Score one architecture for one seed with each estimator; never raises."""
    remote = [e for e in ests if e.name in session.remote]
    if remote:
        out = {e.name: session.remote[e.name](position, seed) for e in remote}
        local = [e for e in ests if e.name not in session.remote]
        if local:
            out.update(score_cell(session, local, position, seed, states, share))
        return {e.name: out[e.name] for e in ests}
    states = session.states(seed) if states is None else states
    arch_id = session.split.arch_ids[position]
    values: dict[str, list] = {e.name: [] for e in ests}
    errors: dict[str, tuple[str, str]] = {}
    wall = {e.name: 0.0 for e in ests}
    gpu = {e.name: 0.0 for e in ests}
    on_cuda = torch.device(session.cfg.device).type == "cuda"
    for est, _b, ctx in session.contexts(ests, position, seed, states, share=share):
        if est.name in errors:
            continue
        t0 = time.perf_counter()
        if on_cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        before = torch_state.snapshot()
        try:
            value = call_with_timeout(lambda est=est, ctx=ctx: est.score(ctx),
                                      session.cfg.arch_timeout_s)
            v, problem = as_outputs(value, est)
            if problem:
                errors[est.name] = ("value", problem)
            else:
                values[est.name].append(v)
        except ArchTimeout as exc:
            errors[est.name] = ("timeout", f"timeout: {exc}")
        except Exception:  # the estimator's bug must not kill the run; it is recorded
            errors[est.name] = ("raised", traceback.format_exc(limit=8))
        after = torch_state.snapshot()
        if after != before:
            changed = torch_state.changes(before, after)
            torch_state.restore(before)
            errors.setdefault(est.name, ("state", f"changed global torch state ({changed}); "
                                         "the harness restored it. Estimators must leave "
                                         "process-wide settings as they found them"))
        if on_cuda:
            end.record()
            end.synchronize()  # the measurement needs it; once per call, outside the estimator
            gpu[est.name] += start.elapsed_time(end) / 1000.0
        wall[est.name] += time.perf_counter() - t0
    env = current_environment(session.cfg.device).to_dict()
    out = {}
    for est in ests:
        vals = values[est.name]
        outputs = dict.fromkeys(est.outputs)  # every output None: the cell failed
        if vals and est.name not in errors:
            outputs = {c: float(np.mean([v[c] for v in vals])) for c in est.outputs}
            bad = [c for c, v in outputs.items() if not math.isfinite(v)]
            if bad and not est.info.population_level:
                # A component may be non-finite (its aggregation decides); a score may not.
                errors[est.name] = ("value",
                                    f"mean over batches is non-finite ({outputs[api.SCORE]})")
                outputs = dict.fromkeys(est.outputs)
        kind, message = errors.get(est.name, (None, None))
        out[est.name] = Record.of(est, arch_id, seed, outputs, message, wall[est.name],
                                  gpu[est.name] if on_cuda else None, env, kind)
    return out


def open_checkpoints(session: Session) -> dict[str, Checkpoint]:
    """One checkpoint per estimator; a shard adopts what sibling shards already scored."""
    cfg = session.cfg
    ckpts: dict[str, Checkpoint] = {}
    try:
        for e in session.estimators:
            ckpts[e.name] = Checkpoint(session.checkpoint_path(e, cfg.shard),
                                       session.scoring_key(e), cfg.resume)
    except BaseException:
        for c in ckpts.values():
            c.close()
        raise
    if cfg.shard and cfg.resume:
        ids = session.split.arch_ids
        wanted = {(ids[p], s) for p in session.positions for s in cfg.seeds}
        for e in session.estimators:
            ck = ckpts[e.name]
            ck.adopt(other_checkpoint_records(ck.path, cfg.results_dir, e.name,
                                              session.split.name, session.scoring_key(e)),
                     wanted)
    return ckpts


def fail_fast_reason(est: api.Estimator, history: list[Record], limit: int) -> str | None:
    """Why ``est`` is stopped, when each of its first ``limit`` cells failed; else ``None``."""
    if limit and len(history) == limit and all(r.failure for r in history):
        first = history[0]
        lines = (first.error or "").strip().splitlines() or [""]
        return (f"{est.name} failed on each of its first {limit} architectures (stopped; "
                f"--fail-fast=0 scores on regardless). First error, arch {first.arch_id} seed "
                f"{first.seed}: {lines[-1]}")
    return None


def score_split(session: Session, progress: ProgressFn | None = None,
                stop: Callable[[], bool] | None = None) -> dict[str, Checkpoint]:
    """Score every (architecture, seed) of the session's split (or shard) not already
    checkpointed; returns the checkpoints (closed).

    Args:
        session: what to score.
        progress: called after every cell.
        stop: asked before every cell; when it answers true the run stops at that cell
            boundary, every finished cell journaled (a campaign's budget or a signal). The
            caller tells a stopped run from a finished one by the checkpoints' records.
    """
    cfg, split = session.cfg, session.split
    set_threads(cfg.threads, cfg.device)
    ckpts = open_checkpoints(session)
    ids = split.arch_ids
    try:
        for e in session.estimators:
            take_over_stored_seeds(
                session, e, ckpts[e.name],
                lambda est, p, seed: score_cell(session, [est], p, seed)[est.name])
    except BaseException:
        for c in ckpts.values():
            c.close()
        raise
    total = len(session.positions) * len(cfg.seeds)
    done = sum(1 for seed in cfg.seeds for p in session.positions
               if all((ids[p], seed) in c.records for c in ckpts.values()))
    resumed = done
    label = f"{','.join(e.name for e in session.estimators)} on {split.name}"
    first_cells: dict[str, list[Record]] = {e.name: [] for e in session.estimators}
    broken: dict[str, str] = {}
    t_start, done_now = time.perf_counter(), 0
    if progress:
        progress(label, done, total, 0.0, resumed)
    try:
        for seed in cfg.seeds:
            todo = [p for p in session.positions
                    if any((ids[p], seed) not in c.records for n, c in ckpts.items()
                           if n not in broken)]
            if not todo:
                continue
            states = session.states(seed)
            for p in todo:
                if stop is not None and stop():
                    return ckpts
                ests = [e for e in session.estimators if (ids[p], seed) not in
                        ckpts[e.name].records and e.name not in broken]
                if not ests:
                    continue  # what is left of this cell belongs to stopped estimators
                for name, rec in score_cell(session, ests, p, seed, states).items():
                    ckpts[name].add(rec)
                    hist = first_cells[name]
                    if len(hist) < cfg.fail_fast:
                        hist.append(rec)
                        why = fail_fast_reason(session.estimator(name), hist, cfg.fail_fast)
                        if why:
                            broken[name] = why  # stops this estimator only
                done += 1
                done_now += 1
                if progress:
                    rate = done_now / max(time.perf_counter() - t_start, 1e-9)
                    progress(label, done, total, rate, resumed)
    finally:
        for c in ckpts.values():
            c.close()
    if broken:
        raise EstimatorBroken(broken, ckpts)
    return ckpts
