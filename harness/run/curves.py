"""What a prepared state loaded (``prepared``) and its training curve (``curve``).

Generic over :class:`harness.api.PreparedState`: a state with ``describe()`` gets its
``prepared`` entry; with ``checkpoints()`` / ``at_checkpoint(k)`` and ``RunConfig.curve`` the
split is scored with every earlier checkpoint of the same training run. The point at the
scored checkpoint reuses the run's scores. Another checkpoint's scores come, in this order,
from the curve store (``<cache_dir>/curves/``: one file per estimator, seed and checkpoint,
written when that checkpoint was first scored), from the results file about to be replaced
when it holds exactly that checkpoint, or from scoring the split again. Stored scores are used
only after three cells re-scored here give the same bits.

The curve store makes curves incremental and resumable: a run that scores checkpoint 100
after one that scored checkpoint 50 re-scores only the checkpoints in between, and a killed
curve pass loses at most the checkpoint in progress. :func:`score_checkpoints` fills the store
for all estimators of a session at once, so estimators that share a pass (one-shot accuracy
and loss) share it at every checkpoint too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness import api, metrics, results
from harness.data import atomic_write_bytes
from harness.run.environment import NumericEnvironment, current_environment
from harness.run.scoring import score_cell
from harness.run.session import Session, own_options, weights_record
from harness.scoring_key import ScoringKey

# Version of the curve store's key and file layout.
CURVE_STORE_VERSION = 2

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


def _without_trained_flag(d: dict | None) -> dict | None:
    return None if d is None else {k: v for k, v in d.items() if k != "trained_in_prepare"}


def _options_without_checkpoint(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "checkpoint_epoch"}


def curve_key(session: Session, est: api.Estimator) -> ScoringKey:
    """The scoring key of ``est``'s checkpoint scores: the run's, without the checkpoint
    choice (which checkpoint a state is, its own description says)."""
    key = session.scoring_key(est)
    return key.replace(options=_options_without_checkpoint(key.options))


def _digest(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _has_weights(state: Any) -> bool:
    """False for a checkpoint removed after its scores were stored (it cannot score again)."""
    return bool(getattr(state, "weights_available", True))


def _store_identity(session: Session, est: api.Estimator, seed: int, state: Any
                    ) -> dict | None:
    """Everything that determines a checkpoint's stored scores except the numeric
    environment; ``None`` when the state cannot describe itself."""
    described = _without_trained_flag(_describe(state))
    if described is None:
        return None
    record = weights_record(session)
    return {"version": CURVE_STORE_VERSION, "scoring_key": curve_key(session, est).to_dict(),
            "seed": int(seed), "prepared": described,
            "weights": (record.per_seed or {}).get(str(seed))}


def curve_store_path(session: Session, est: api.Estimator, seed: int, state: Any
                     ) -> Path | None:
    """Where the scores of ``state`` (one checkpoint of ``est``'s training run) are stored.

    The file name is a hash of everything that determines the scores: the :func:`curve_key`,
    the seed, the trained weights of that seed (if any), the state's own description (run
    hash, checkpoint epoch, evaluation batches) and the numeric environment. ``None`` when the
    state cannot describe itself. A store file of the layout before the scoring key (version
    1) is moved to today's name when found, so its scores are kept (and verified when read).
    """
    identity = _store_identity(session, est, seed, state)
    if identity is None:
        return None
    described, record = identity["prepared"], weights_record(session)
    cfg, split = session.cfg, session.split
    env = current_environment(cfg.device).to_dict()
    # The key's layout (and so every stored file's name) predates the identity field.
    key = {"version": identity["version"], "scoring_key": identity["scoring_key"],
           "seed": identity["seed"], "prepared": described, "environment": env,
           "weights": identity["weights"]}
    folder = Path(cfg.cache_dir) / "curves" / est.name / split.name
    path = folder / f"{_digest(key)[:20]}.json"
    if not path.exists():
        legacy = {"version": 1, "estimator": est.name, "estimator_version": est.info.version,
                  "split": split.name, "split_sha256": split.sha256,
                  "n_batches": cfg.n_batches, "batch_size": cfg.batch_size,
                  "options": _options_without_checkpoint(own_options(est, cfg)),
                  "weights": dataclasses.asdict(record), "seed": int(seed),
                  "prepared": described, "environment": env}
        _upgrade_store_file(folder / f"{_digest(legacy)[:20]}.json", path,
                            curve_key(session, est))
    return path


def _upgrade_store_file(old: Path, new: Path, key: ScoringKey) -> None:
    """Rewrite a version-1 store file at ``old`` as today's at ``new`` (scores and origin
    unchanged; the file now holds its scoring key). Nothing happens if ``old`` is unreadable."""
    try:
        obj = json.loads(old.read_text())
        if obj.get("curve_store_version") != 1:
            return
        save_curve_scores(new, obj["scores"], key, obj.get("origin", "scored"))
    except (OSError, ValueError, KeyError, TypeError):
        return
    old.unlink()


#: ``scores_from`` of a curve point, by where the stored scores first came from.
STORE_ORIGINS = {"scored": "curve store, verified", "results file": "stored result, verified"}


def save_curve_scores(path: Path, scores: Sequence[float | None], key: ScoringKey,
                      origin: str = "scored", identity: dict | None = None,
                      environment: dict | None = None) -> None:
    """Store one checkpoint's scores (split order; ``None`` for a failed cell) atomically,
    with the scoring key they were made under.

    ``origin``: ``"scored"`` (computed by a curve pass or a run) or ``"results file"`` (taken,
    verified, from a results file that held that checkpoint). ``identity`` and
    ``environment`` (what :func:`curve_store_path` hashes, split in two) let the scores of a
    checkpoint that was later removed be found from another machine
    (:func:`find_removed_checkpoint_scores`).
    """
    obj = {"curve_store_version": CURVE_STORE_VERSION, "origin": origin,
           "scoring_key": key.to_dict(),
           "scores": [None if v is None else float(v) for v in scores]}
    if identity is not None:
        obj.update(identity=identity, environment=environment)
    text = json.dumps(obj, default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def probe_matches(stored: Sequence[float | None],
                  rescore: Callable[[Sequence[int]], list]) -> bool:
    """Whether three cells (first, middle, last) re-scored now give the stored bits."""
    n = len(stored)
    probe = sorted({0, n // 2, n - 1})[:CURVE_VERIFY_CELLS]
    return rescore(probe) == [stored[p] for p in probe]


def load_curve_scores(path: Path | None, n: int, rescore: Callable[[Sequence[int]], list],
                      key: ScoringKey, verify: bool = True
                      ) -> tuple[list[float | None], str] | None:
    """Stored scores of one checkpoint and their ``scores_from`` label, if the file is sound,
    holds scoring key ``key``, and three cells re-scored here (first, middle, last) give the
    stored bits; else ``None``."""
    if path is None or not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text())
        stored, origin = obj["scores"], STORE_ORIGINS[obj.get("origin", "scored")]
        same_key = type(key).from_dict(obj["scoring_key"]) == key
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if obj.get("curve_store_version") != CURVE_STORE_VERSION or len(stored) != n \
            or not same_key:
        return None
    if verify and not probe_matches(stored, rescore):
        return None
    return stored, origin


def find_removed_checkpoint_scores(session: Session, est: api.Estimator, seed: int,
                                   state: Any) -> tuple[list[float | None], str] | None:
    """Stored scores of a removed checkpoint (which cannot be re-scored to verify them).

    This machine's store file first; else a file in the same folder with the same identity
    made in another numeric environment (labelled with that environment's CPU).
    """
    n = len(session.split)
    path = curve_store_path(session, est, seed, state)
    key = curve_key(session, est)
    exact = load_curve_scores(path, n, lambda _p: [], key, verify=False)
    if exact is not None:
        return exact[0], "curve store (checkpoint removed after scoring)"
    identity = _store_identity(session, est, seed, state)
    if identity is None or path is None or not path.parent.is_dir():
        return None
    want = json.loads(json.dumps(identity, default=str))
    for other in sorted(path.parent.glob("*.json")):
        try:
            obj = json.loads(other.read_text())
        except (OSError, ValueError):
            continue
        if obj.get("identity") != want:
            continue
        found = load_curve_scores(other, n, lambda _p: [], key, verify=False)
        if found is not None:
            try:
                where = NumericEnvironment.from_dict(obj.get("environment") or {}).describe()
            except (KeyError, TypeError):
                where = "another machine"
            return found[0], f"curve store (checkpoint removed after scoring; made on {where})"
    return None


def _environment(session: Session) -> dict:
    return current_environment(session.cfg.device).to_dict()


def store_checkpoint_scores(session: Session, progress: Callable | None = None,
                            stop: Callable[[], bool] | None = None) -> int:
    """Score the split with each seed's own prepared states and put the scores in the curve
    store (nothing else is written): a training run's checkpoint becomes a curve point the
    moment it is saved, and the weights need not be kept for it.

    All estimators of the session are scored together (shared passes run once). Scores
    already stored are not computed again.

    Returns:
        The number of (estimator, seed) score sets computed; stops early (storing nothing
        for the seed in progress) when ``stop()`` answers true between cells.
    """
    done = 0
    for seed in session.cfg.seeds:
        states = session.states(seed)
        todo = []
        for est in session.estimators:
            path = curve_store_path(session, est, seed, states.get(est.name))
            if path is not None and not path.is_file():
                todo.append((est, path))
        if not todo:
            continue
        ests = [e for e, _p in todo]
        label = f"checkpoint scores, seed {seed} ({', '.join(e.name for e in ests)})"
        scores = _score_all(session, ests, seed, states, label, progress, stop)
        if scores is None:
            return done
        for e, path in todo:
            _store(session, e, seed, states[e.name], path, scores[e.name])
            done += 1
    return done


def _score_all(session: Session, ests: list[api.Estimator], seed: int, states: dict,
               label: str, progress: Callable | None = None,
               stop: Callable[[], bool] | None = None) -> dict[str, list] | None:
    """Every cell of the split scored with ``ests`` jointly (shared passes run once), by
    estimator; ``None`` when ``stop()`` answered true between cells."""
    n = len(session.split)
    scores: dict[str, list] = {e.name: [] for e in ests}
    t0 = time.perf_counter()
    for p in range(n):
        if stop is not None and stop():
            return None
        recs = score_cell(session, ests, p, seed, states)
        for e in ests:
            scores[e.name].append(recs[e.name].score)
        if progress is not None:
            elapsed = time.perf_counter() - t0
            progress(label, p + 1, n, (p + 1) / elapsed if elapsed else 0.0, 0)
    return scores


def _store(session: Session, est: api.Estimator, seed: int, state: Any, path: Path,
           scores: Sequence[float | None]) -> None:
    """Store scores this process computed, with what finds them again from elsewhere."""
    save_curve_scores(path, scores, curve_key(session, est), "scored",
                      _store_identity(session, est, seed, state), _environment(session))


def _rescorer(session: Session, est: api.Estimator, seed: int, st: Any
              ) -> Callable[[Sequence[int]], list]:
    def rescore(positions: Sequence[int]) -> list:
        states = {**session.states(seed), est.name: st}
        return [score_cell(session, [est], p, seed, states)[est.name].score for p in positions]

    return rescore


def score_checkpoints(session: Session, progress: Callable | None = None) -> int:
    """Score every checkpoint that a ``--curve`` run will need and the store lacks.

    All estimators of the session whose prepared state has checkpoint *k* are scored together
    (their shared passes run once). Each checkpoint's scores are stored as soon as the split
    is done, so an interrupted pass resumes at the next checkpoint.

    Returns:
        The number of (estimator, seed, checkpoint) score sets computed.
    """
    cfg = session.cfg
    done = 0
    for seed in cfg.seeds:
        todo: dict[int, list[tuple[api.Estimator, Any, Path]]] = {}
        for est in session.estimators:
            state = session.states(seed).get(est.name)
            if est.prepare is None or not hasattr(state, "checkpoints"):
                continue
            own = getattr(state, "epoch", None)
            for k in state.checkpoints():
                if k == own:
                    continue
                st = state.at_checkpoint(k)
                path = curve_store_path(session, est, seed, st)
                if path is None or path.is_file() or not _has_weights(st):
                    continue  # stored, or removed: its scores can only come from the store
                # The results file about to be replaced may hold this checkpoint already.
                raw = stored_checkpoint_scores(session, est, seed, st,
                                               _rescorer(session, est, seed, st))
                if raw is not None:
                    save_curve_scores(path, raw, curve_key(session, est), "results file")
                else:
                    todo.setdefault(int(k), []).append((est, st, path))
        for k, group in sorted(todo.items()):
            ests = [e for e, _st, _p in group]
            states = {**session.states(seed), **{e.name: st for e, st, _p in group}}
            label = f"curve: checkpoint {k}, seed {seed} ({', '.join(e.name for e in ests)})"
            scores = _score_all(session, ests, seed, states, label, progress)
            for e, st, path in group:
                _store(session, e, seed, st, path, scores[e.name])
                session.curve_scored.add(path)
                done += 1
    return done


def prepared_and_curve(session: Session, est: api.Estimator,
                       per_seed_scores: dict[int, np.ndarray] | None,
                       truth: np.ndarray | None) -> tuple[dict | None, results.Curve | None]:
    """``prepared`` per seed, and for ``cfg.curve`` the metrics at each checkpoint."""
    if est.prepare is None:
        return None, None
    cfg = session.cfg
    prepared: dict[str, Any] = {}
    points: list[results.CurvePoint] = []
    unscored: list[str] = []  # removed checkpoints without stored scores of this protocol
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
                path = curve_store_path(session, est, seed, state)
                if path is not None and not path.is_file():
                    # Stored for a later run that scores a later checkpoint of the same run.
                    _store(session, est, seed, state, path,
                           [None if not np.isfinite(v) else float(v) for v in s])
            else:
                st = state.at_checkpoint(k)
                if not _has_weights(st):
                    found = find_removed_checkpoint_scores(session, est, seed, st)
                    if found is None:
                        unscored.append(f"{k} (seed {seed})")
                        continue
                    raw, source = found
                    m = metrics.all_metrics(_ranked(raw), truth)
                    points.append(results.CurvePoint(int(k), seed, m["kendall"],
                                                     m["spearman"], m.get("p_top_5"), source))
                    continue
                rescore = _rescorer(session, est, seed, st)
                path = curve_store_path(session, est, seed, st)
                # Scores this session's curve pass computed need no re-check.
                loaded = load_curve_scores(path, len(session.split), rescore,
                                           curve_key(session, est),
                                           verify=path not in session.curve_scored)
                raw, source = loaded if loaded is not None else (None, "")
                if raw is not None and path in session.curve_scored:
                    source = "rescored"  # by this session's curve pass
                if raw is None:
                    raw = stored_checkpoint_scores(session, est, seed, st, rescore)
                    source = "stored result, verified"
                if raw is None:
                    raw = rescore(range(len(session.split)))
                    source = "rescored"
                    if path is not None:
                        _store(session, est, seed, st, path, raw)
                s = _ranked(raw)
            m = metrics.all_metrics(s, truth)
            points.append(results.CurvePoint(int(k), seed, m["kendall"], m["spearman"],
                                             m.get("p_top_5"), source))
    curve = None
    if cfg.curve and per_seed_scores is not None:
        note = "metrics of the same scoring at each saved checkpoint of the run"
        if unscored:
            note += ("; checkpoints removed before this protocol scored them, so not on the "
                     "curve: " + ", ".join(unscored))
        curve = results.Curve("checkpoint (training epoch)", points, note)
    return prepared, curve


def stored_checkpoint_scores(session: Session, est: api.Estimator, seed: int, state: Any,
                             rescore: Callable[[Sequence[int]], list]
                             ) -> list[float | None] | None:
    """Scores of checkpoint ``state`` from the results file this run is about to replace.

    Used only if everything that determines them matches: the results file's scoring key
    (without the checkpoint choice) equals :func:`curve_key`, its weights record equals the
    run's, and the prepared state's own description (supernet hash, epoch, evaluation
    batches, ...) equals the stored one. Then a
    few cells are scored again, and any difference from the stored bits discards the file.

    Returns:
        Scores in split order, or ``None`` (score everything again).
    """
    cfg, split = session.cfg, session.split
    path = results.results_path(cfg.results_dir, est.name, split.name)
    if not path.exists() or _describe(state) is None:
        return None
    try:
        old = results.load_result(path)
        if not results.scores_match(old, path.with_name(old.scores_file)):
            return None  # not the scores file the result was written with
        rows = results.read_scores(path.with_name(old.scores_file))
    except (results.ResultsSchemaError, OSError, KeyError, ValueError):
        return None

    same = (old.protocol.scoring_key.replace(options=_options_without_checkpoint(
                old.protocol.scoring_key.options)) == curve_key(session, est)
            and old.protocol.weights == weights_record(session)
            and _without_trained_flag((old.prepared or {}).get(str(seed)))
            == _without_trained_flag(_describe(state)))
    if not same:
        return None
    by_id = {a: v for a, s, v in rows if s == seed}
    if any(a not in by_id for a in split.arch_ids):
        return None
    stored = [by_id[a] for a in split.arch_ids]
    if not probe_matches(stored, rescore):
        return None
    return stored
