"""Seeds the results file already holds, taken over instead of scored again.

Adding seeds 2020 and 202020 to a result of seed 20 would otherwise re-score seed 20: a third
of the work, 7 CPU-hours for GraSP alone on the three ranking splits. A seed is taken over from
``<results-dir>/<estimator>/<split>.json`` and its scores file only when everything that
determines its scores matches (its :class:`~harness.scoring_key.ScoringKey`, the torch version,
the GPU model on CUDA, a clean contract), the scores
file is the one the results file was written with (its SHA-256), and three of the cells
(first, middle, last of those needed) scored again now give the stored bits. Any mismatch, or
a stored failure, means the seed is scored in full as before.

**Another CPU kind.** Scores are bitwise reproducible only within one numeric environment
(:mod:`harness.run.environment`): on a machine with another instruction set or another CPU
model the probes differ in the last bits, and requiring equality there would re-score every
stored seed whenever the lent machine changes kind (measured on NDS-ResNet: relative
differences from 0 for ``synflow`` to 3e-2 for ``zico``, both across instruction sets and
from AMD EPYC to Intel Xeon). When every stored score comes from one environment that is not
this one (or from an unrecorded one, in results older than the record), the seed is taken over
if each probe agrees within :data:`CROSS_ENV_RTOL`; the records keep the environment they
were computed in, so the result counts both environments and the determinism check reports
the differences as cross-environment, never as a contract problem. A probe beyond the
tolerance still means scoring the seed in full.

Taken-over records carry ``origin="stored result"``. They count for the metrics like any other
record, but not for the cost, which is measured on the cells scored in this run (the probes
among them). A population-level estimator's seeds are taken over by their components (the
scores file holds them; the probes compare every component), and the aggregation then runs as
for scored ones. One-shot estimators (their scores depend on a prepared state, which
:mod:`harness.run.curves` handles) are always scored.
"""

from __future__ import annotations

import torch

from harness import api, results
from harness.run.config import UsageError
from harness.run.environment import current_environment, device_name
from harness.run.journal import Checkpoint, Record, move_aside
from harness.run.session import Session
from harness.scoring_key import CHECKPOINT_CHOICE_OPTIONS, ScoringKey

#: ``Record.origin`` of a record taken over from the results file.
STORED_ORIGIN = "stored result"

#: Largest relative difference between a probe and a stored score from another numeric
#: environment that still counts as the same computation. Rounding differences between CPU
#: kinds measured up to 3e-2 (``zico``, a log of ratios of small gradient statistics); a
#: change of definition moves scores by far more. A near-zero score, whose relative
#: difference is large, is scored again: the tolerance errs towards re-scoring.
CROSS_ENV_RTOL = 0.1


def probe_positions(positions: list[int]) -> list[int]:
    """First, middle and last of ``positions`` (fewer when there are fewer)."""
    if not positions:
        return []
    return sorted({positions[0], positions[len(positions) // 2], positions[-1]})


def covering_result(session: Session, est: api.Estimator) -> results.ResultFile | None:
    """The results file of ``est`` on the session's split if it already holds the session's
    scoring: the same scoring key and every seed. ``None`` if not, or unreadable."""
    path = results.results_path(session.cfg.results_dir, est.name, session.split.name)
    try:
        old = results.load_result(path) if path.is_file() else None
    except (results.ResultsSchemaError, OSError, KeyError, ValueError):
        return None
    covers = (old is not None and old.protocol.scoring_key == session.scoring_key(est)
              and set(session.cfg.seeds) <= set(old.protocol.seeds))
    return old if covers else None


def _same_device_or_cpu(stored_name: str | None, device: str) -> bool:
    """Whether scores stored on the device named ``stored_name`` may be probed here at all.

    Any CPU may: a CPU of another model is one more numeric environment, and the probes judge
    it like another instruction set (measured from AMD EPYC to Intel Xeon: relative
    differences from 0 for ``swap`` to 3e-2 for ``zico``). A CUDA device must be the same
    model: cross-GPU differences were never measured here.
    """
    return torch.device(device).type == "cpu" or stored_name == device_name(device)


def reusable_result(session: Session, est: api.Estimator) -> results.ResultFile | None:
    """The results file of ``est`` on the session's split if its seeds may be taken over."""
    cfg, split = session.cfg, session.split
    if not cfg.resume or est.prepare is not None or cfg.weights != "init":
        return None
    path = results.results_path(cfg.results_dir, est.name, split.name)
    if not path.is_file():
        return None
    try:
        old = results.load_result(path)
    except (results.ResultsSchemaError, OSError, KeyError, ValueError):
        return None
    same = (old.contract_ok
            and old.protocol.scoring_key == session.scoring_key(est)
            and old.environment.torch == torch.__version__
            and _same_device_or_cpu(old.environment.device_name, cfg.device)
            # edited, replaced or unreadable scores: nothing in them is trusted
            and results.scores_match(old, path.with_name(old.scores_file)))
    return old if same else None


#: How :func:`protocol_differences` names the scoring-key fields a user sets (a field added
#: to the key later is named as it is).
_SETTINGS = {"n_batches": "batches", "batch_size": "batch size", "weights": "weights",
             "device_type": "device", "options": "options"}
#: Key fields that say *which* result it is rather than how it was scored.
_IDENTITY = ("estimator", "estimator_version", "split", "split_sha256")


def protocol_differences(old: results.ResultFile, key: ScoringKey, *,
                         ignore_options: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Settings in which a results file differs from a run whose scoring key is ``key``:
    every key field but the estimator's and split's identity (batches, batch size, weights,
    device type, any field added since) and the estimator's own options other than
    ``ignore_options``.

    The one comparison of "the same protocol" for the replacement rule (estimator version and
    split are told apart before it: another version is not another protocol).
    """
    def drop(k: ScoringKey) -> ScoringKey:
        return k.replace(options={o: v for o, v in k.options.items()
                                  if o not in ignore_options})

    diff = drop(old.protocol.scoring_key).differences(drop(key))
    return {_SETTINGS.get(k, k): v for k, v in diff.items() if k not in _IDENTITY}


def check_replacement(session: Session) -> list:
    """Before any scoring: refuse to replace a results file whose loss the user did not ask for.

    A results file of the *same* estimator version on the same split is what a run replaces.
    Two replacements would lose something silently, and are refused unless ``--no-resume``
    asks for them (the old files are then moved aside as ``.old-<time>``, never deleted):

    * the file holds seeds this run does not score (``--seeds=20`` after a three-seed run);
    * the file was scored with other settings (batches, batch size, options, weights, device;
      of a one-shot estimator's options, those that only choose the checkpoint,
      :data:`harness.scoring_key.CHECKPOINT_CHOICE_OPTIONS`, are left out).

    A file of another estimator version is stale and is replaced as any re-run replaces it.

    Returns:
        the files moved aside.

    Raises:
        UsageError: naming the file, what would be lost, and the ways on.
    """
    cfg, split = session.cfg, session.split
    moved = []
    for est in session.estimators:
        path = results.results_path(cfg.results_dir, est.name, split.name)
        if not path.is_file():
            continue
        try:
            old = results.load_result(path)
        except (results.ResultsSchemaError, OSError, KeyError, ValueError):
            continue  # unreadable: not a result of this protocol
        if old.estimator.version != est.info.version or old.split.sha256 != split.sha256:
            continue
        # A one-shot estimator's checkpoint choice is not its protocol: scoring a later
        # checkpoint of the same run replaces the earlier result (the curve store keeps every
        # point). Its other options (the run's sampler, sharing, budget; evaluation) are.
        diff = protocol_differences(
            old, session.scoring_key(est),
            ignore_options=CHECKPOINT_CHOICE_OPTIONS if est.prepare is not None else ())
        dropped = sorted(set(old.protocol.seeds) - set(cfg.seeds))
        if not diff and not dropped:
            continue
        if not cfg.resume:
            for f in (path, results.scores_path(cfg.results_dir, est.name, split.name)):
                if f.is_file():
                    moved.append(move_aside(f))
            continue
        if diff:
            said = "; ".join(f"{k}: file {a!r}, this run {b!r}" for k, (a, b) in diff.items())
            raise UsageError(
                f"{path} holds {est.name} on {split.name} scored with other settings ({said}); "
                "nothing was scored. Re-run with the file's settings, write elsewhere with "
                "--results-dir, or pass --no-resume to replace it (the old files are moved "
                "aside as .old-<time>).")
        union = ",".join(map(str, sorted(set(old.protocol.seeds) | set(cfg.seeds))))
        raise UsageError(
            f"{path} holds seed(s) {', '.join(map(str, dropped))} of {est.name} on "
            f"{split.name} that this run (--seeds={','.join(map(str, cfg.seeds))}) would "
            f"drop; nothing was scored. Run --seeds={union} (the stored seeds are taken "
            "over after a probe), write elsewhere with --results-dir, or pass "
            "--no-resume to replace it (the old files are moved aside as .old-<time>).")
    return moved


def take_over_stored_seeds(session: Session, est: api.Estimator, ckpt: Checkpoint,
                           rescore) -> dict[int, int]:
    """Add to ``ckpt`` the stored scores of every seed it lacks, where they may be used.

    Args:
        session: the scoring session.
        est: the estimator.
        ckpt: its open checkpoint (records are appended to it).
        rescore: ``rescore(est, position, seed) -> Record``, scoring one cell now.

    Returns:
        seed -> number of records taken over (probes excluded).
    """
    old = reusable_result(session, est)
    if old is None:
        return {}
    path = results.results_path(session.cfg.results_dir, est.name, session.split.name)
    pop = est.info.population_level
    try:
        rows = results.read_scores_with_components(path.with_name(old.scores_file))
    except (OSError, KeyError, ValueError):
        return {}
    if pop and any(set(c) != set(est.info.components) for _a, _s, _v, c in rows):
        return {}
    here = current_environment(session.cfg.device).to_dict()
    one_env, stored_env = stored_environment(old)
    other_env = one_env and stored_env != here
    ids = session.split.arch_ids
    taken: dict[int, int] = {}
    for seed in session.cfg.seeds:
        if seed not in old.protocol.seeds:
            continue
        need = [p for p in session.positions if (ids[p], seed) not in ckpt.records]
        # What a cell's record holds: the score, or a population-level estimator's components
        # (its score is the aggregation, computed after scoring).
        by_id = {a: (c if pop else v) for a, s, v, c in rows if s == seed}
        if not need or any(_failed(by_id.get(ids[p])) for p in need):
            continue
        probes = {p: rescore(est, p, seed) for p in probe_positions(need)}
        got = {p: (rec.components if pop else rec.score) for p, rec in probes.items()}
        if any(_failed(v) for v in got.values()):
            continue
        if other_env and all(_rel_diff(v, by_id[ids[p]]) <= CROSS_ENV_RTOL
                             for p, v in got.items()):
            # The seed stays what it was: every cell its stored score, from its environment,
            # even where the probes gave the stored bits. Three equal probes say nothing of the
            # other cells: SWAP's integer counts agree across CPU kinds in most cells and
            # differ by one in a few, which, labelled as this environment's, the determinism
            # check then reported as a contract problem.
            env, keep_probes = stored_env, False
        elif all(v == by_id[ids[p]] for p, v in got.items()):
            env, keep_probes = here, True  # reproduced bit for bit: this environment's
        else:
            continue
        for p in need:
            rec = probes.get(p) if keep_probes else None
            value = by_id[ids[p]]
            ckpt.add(rec or Record(ids[p], seed, None if pop else value, None, 0.0, None, env,
                                   None, dict(value) if pop else None, STORED_ORIGIN))
        taken[seed] = len(need) - (len(probes) if keep_probes else 0)
    return taken


def stored_environment(old: results.ResultFile) -> tuple[bool, dict[str, str] | None]:
    """``(True, env)`` when every stored score of ``old`` came from one numeric environment,
    ``env`` (``None``: unrecorded, as in results older than the record, which may be any);
    ``(False, None)`` when they came from several, so which score came from which is unknown.
    """
    if old.determinism is None:
        return True, None
    envs = {None if e.environment is None else tuple(sorted(e.environment.items()))
            for e in old.determinism.environments}
    if len(envs) != 1:
        return False, None
    (env,) = envs
    return True, None if env is None else dict(env)


def _failed(value: float | dict | None) -> bool:
    """A missing or failed stored (or probed) score, or a failed component."""
    if isinstance(value, dict):
        return not value or any(v is None for v in value.values())
    return value is None


def _rel_diff(a: float | dict, b: float | dict) -> float:
    """Relative difference of two scores, or the largest over two components dicts."""
    if isinstance(a, dict):
        return max(_rel_diff(a[k], b[k]) for k in a)
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale > 0 else 0.0
