"""The determinism check: re-score a few architectures alone and compare with the run.

On CPU the comparison is bitwise; on CUDA a relative tolerance of 1e-5 applies (atomics make
some kernels non-deterministic in the last bits). A mismatch with a score from this process's
numeric environment is a contract problem; one with a score from another environment (a shard
run on another kind of machine, a checkpoint resumed elsewhere, or a record older than the
environment field) is reported in ``cross_environment`` instead, because kernels chosen per
instruction set legitimately change the last bits.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from harness import api, results
from harness.run.environment import NumericEnvironment, current_environment, set_threads
from harness.run.journal import Records
from harness.run.scoring import score_cell
from harness.run.session import Session


def _fresh_states(session: Session, seed: int) -> dict[str, Any]:
    """The session's prepared states with empty caches: the check must recompute, not read a
    memoised score back."""
    out = {}
    for key, state in session.states(seed).items():
        fresh = getattr(state, "fresh", None)
        out[key] = fresh() if callable(fresh) else state
    return out


def _spread(ps: list[int], k: int) -> list[int]:
    return ps[:: max(1, len(ps) // k)][:k] if k > 0 else []


def check_determinism(session: Session, est: api.Estimator,
                      recorded: Records) -> results.Determinism:
    """Re-score ``cfg.determinism_checks`` architectures with ``est`` alone.

    Architectures scored in this process's environment are picked first.
    """
    counts: dict[NumericEnvironment | None, int] = {}
    for rec in recorded.values():
        env = rec.environment
        counts[env] = counts.get(env, 0) + 1
    out = results.Determinism(
        checked=0, equal=0, problems=[], cross_environment=[],
        environments=[results.EnvironmentCount(None if e is None else e.to_dict(), n)
                      for e, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))])
    cfg = session.cfg
    if cfg.determinism_checks <= 0:
        return out
    # The same thread count as the scoring run: CPU reductions split work by thread, so another
    # count changes the last bits (e.g. when merging shards in a fresh process).
    set_threads(cfg.threads, cfg.device)
    here = current_environment(cfg.device)
    seed = cfg.seeds[0]
    ids = session.split.arch_ids

    def value(r) -> Any:
        # A population-level estimator is re-checked on its components (the aggregation is a
        # deterministic function of them).
        return r.components if est.info.population_level else r.score

    def rel_diff(a: Any, b: Any) -> float:
        if isinstance(a, dict):
            return max(rel_diff(a[k], b[k]) for k in a)
        return abs(b - a) / max(abs(a), 1e-300)

    usable = [p for p in session.positions if (ids[p], seed) in recorded
              and recorded[(ids[p], seed)].failure is None]
    local = [p for p in usable if recorded[(ids[p], seed)].environment == here]
    picks = _spread(local, cfg.determinism_checks)
    others = [p for p in usable if recorded[(ids[p], seed)].environment != here]
    picks += _spread(others, cfg.determinism_checks - len(picks))
    states = _fresh_states(session, seed)
    exact = torch.device(cfg.device).type == "cpu"
    for p in picks:
        again = score_cell(session, [est], p, seed, states, share=False)[est.name]
        rec = recorded[(ids[p], seed)]
        before, now = value(rec), value(again)
        if exact or now is None:
            same = now == before
        elif est.info.population_level:
            same = all(math.isclose(now[k], before[k], rel_tol=1e-5) for k in before)
        else:
            same = math.isclose(now, before, rel_tol=1e-5)
        out.checked += 1
        out.equal += same
        if same:
            continue
        if rec.environment == here or now is None:
            out.problems.append(
                f"arch {ids[p]} ({session.specs[p]}), seed {seed}: scored {before!r} in the run "
                f"but {now!r} when re-scored alone"
                f"{' — ' + again.error if again.error else ''}")
        else:
            out.cross_environment.append(results.CrossEnvironment(
                arch_id=ids[p], seed=seed, recorded=before, rescored=now,
                recorded_env=rec.env, rescored_env=here.to_dict(),
                rel_diff=rel_diff(before, now)))
    return out
