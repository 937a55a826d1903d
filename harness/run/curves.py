"""What a prepared state loaded (``prepared``) and its training curve (``curve``).

Generic over :class:`harness.api.PreparedState`: a state with ``describe()`` gets its
``prepared`` entry; with ``checkpoints()`` / ``at_checkpoint(k)`` and ``RunConfig.curve`` the
split is scored with every earlier checkpoint of the same training run. The point at the
scored checkpoint reuses the run's scores. Another checkpoint's scores come from the results
file about to be replaced when it holds exactly that checkpoint (verified on three cells), and
are re-scored otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness import api, metrics, results
from harness.run.session import Session, own_options

# Cells re-scored to confirm that stored scores are those of the checkpoint (first, middle, last).
CURVE_VERIFY_CELLS = 3


def _ranked(raw: list[float | None]) -> np.ndarray:
    """Failed cells of a curve checkpoint ranked below every finite score (the curve shows
    how ranking improves with training; a failure there is recorded by its own run)."""
    finite = [s for s in raw if s is not None]
    if not finite:
        return np.zeros(len(raw))
    floor = min(finite) - (max(finite) - min(finite)) - 1.0
    return np.array([floor if s is None else s for s in raw], dtype=np.float64)


def _describe(state: Any) -> dict | None:
    describe = getattr(state, "describe", None)
    return describe() if callable(describe) else None


def prepared_and_curve(session: Session, est: api.Estimator,
                       per_seed_scores: dict[int, np.ndarray] | None,
                       truth: np.ndarray | None) -> tuple[dict | None, results.Curve | None]:
    """``prepared`` per seed, and for ``cfg.curve`` the metrics at each checkpoint."""
    if est.prepare is None:
        return None, None
    from harness.run.scoring import score_cell

    cfg = session.cfg
    prepared: dict[str, Any] = {}
    points: list[results.CurvePoint] = []
    for seed in cfg.seeds:
        state = session.states(seed)[est.name]
        prepared[str(seed)] = _describe(state)
        if not cfg.curve or per_seed_scores is None or not hasattr(state, "checkpoints"):
            continue
        own = getattr(state, "epoch", None)
        for k in state.checkpoints():
            source = "this run"
            if k == own:
                s = per_seed_scores[seed]
            else:
                st = state.at_checkpoint(k)

                def rescore(positions, st=st, seed=seed):
                    states = {**session.states(seed), est.name: st}
                    return [score_cell(session, [est], p, seed, states)[est.name].score
                            for p in positions]

                raw = stored_checkpoint_scores(session, est, seed, st, rescore)
                source = "stored result, verified" if raw is not None else "rescored"
                if raw is None:
                    raw = rescore(range(len(session.split)))
                s = _ranked(raw)
            m = metrics.all_metrics(s, truth)
            points.append(results.CurvePoint(int(k), seed, m["kendall"], m["spearman"],
                                             m.get("p_top_5"), source))
    curve = None
    if cfg.curve and per_seed_scores is not None:
        curve = results.Curve("checkpoint (training epoch)", points,
                              "metrics of the same scoring at each saved checkpoint of the run")
    return prepared, curve


def stored_checkpoint_scores(session: Session, est: api.Estimator, seed: int, state: Any,
                             rescore: Callable[[Sequence[int]], list]
                             ) -> list[float | None] | None:
    """Scores of checkpoint ``state`` from the results file this run is about to replace.

    Used only if everything that determines them matches: estimator version, split (name and
    SHA-256), batches, options other than the checkpoint choice, weights source, and the
    prepared state's own description (supernet hash, epoch, evaluation batches, ...). Then a
    few cells are scored again, and any difference from the stored bits discards the file.

    Returns:
        Scores in split order, or ``None`` (score everything again).
    """
    from harness.run.finalize import weights_record

    cfg, split = session.cfg, session.split
    path = results.results_path(cfg.results_dir, est.name, split.name)
    if not path.exists() or _describe(state) is None:
        return None
    try:
        old = results.load_result(path)
        rows = results.read_scores(path.with_name(old.scores_file))
    except (results.ResultsSchemaError, OSError, KeyError, ValueError):
        return None

    def key(d: dict | None) -> dict | None:
        return None if d is None else {k: v for k, v in d.items() if k != "trained_in_prepare"}

    def opts(d: dict) -> dict:
        return {k: v for k, v in d.items() if k != "checkpoint_epoch"}

    same = (old.estimator.version == est.info.version
            and old.split.name == split.name and old.split.sha256 == split.sha256
            and old.protocol.n_batches == cfg.n_batches
            and old.protocol.batch_size == cfg.batch_size
            and old.protocol.weights == weights_record(session)
            and opts(old.protocol.options) == opts(own_options(est, cfg))
            and key((old.prepared or {}).get(str(seed))) == key(_describe(state)))
    if not same:
        return None
    by_id = {a: v for a, s, v in rows if s == seed}
    if any(a not in by_id for a in split.arch_ids):
        return None
    stored = [by_id[a] for a in split.arch_ids]
    n = len(stored)
    probe = sorted({0, n // 2, n - 1})[:CURVE_VERIFY_CELLS]
    if rescore(probe) != [stored[p] for p in probe]:
        return None
    return stored
