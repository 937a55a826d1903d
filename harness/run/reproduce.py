"""Re-scoring committed results: does the code of today give the stored bits?

A refactor or a speed-up must not change a score without saying so (a change of bits bumps the
estimator's version). :func:`reproduce_result` re-scores a few cells of a results file (the
first, middle and last architecture of the split, for its first seed) with the protocol the file
records, alone and on one thread, and compares them with the stored scores:

* scores stored in this numeric environment (:mod:`harness.run.environment`) must come back bit
  for bit;
* scores from another environment (another CPU instruction set, an older unrecorded one) are
  compared within :data:`harness.run.stored.CROSS_ENV_RTOL`, the tolerance under which the
  harness already takes over stored seeds across CPU kinds; the report says so;
* one-shot estimators and runs on trained weights are not re-scored here (their scores need the
  supernet run, which the training curves check instead).

Each line also gives a digest of the scores computed now (:meth:`Reproduction.digest`). Where
the stored scores came from another environment, "within tolerance" does not show that a
refactor kept the bits; running the command with the code before and after the change on one
machine does: the digests must be equal.

``python -m harness reproduce`` runs it over a results directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from harness import registry, results
from harness.run.config import RunConfig
from harness.run.environment import current_environment, set_threads
from harness.run.scoring import score_cell
from harness.run.session import Session
from harness.run.stored import CROSS_ENV_RTOL, probe_positions, stored_environment
from harness.splits import load_split

#: Verdicts of a reproduction, best first.
SAME_BITS = "same bits"
WITHIN_TOLERANCE = "within tolerance"
DIFFERENT = "DIFFERENT"
NOT_CHECKED = "not checked"


@dataclasses.dataclass(frozen=True)
class CellCheck:
    """One re-scored cell.

    Attributes:
        arch_id: the architecture.
        seed: the seed.
        stored: the stored score (a components dict for a population-level estimator).
        now: the score computed now (``None`` when it failed).
    """

    arch_id: int
    seed: int
    stored: float | dict | None
    now: float | dict | None

    @property
    def same_bits(self) -> bool:
        return self.now is not None and self.now == self.stored

    def rel_diff(self) -> float:
        """Largest relative difference (over components), ``inf`` when a side is missing."""
        if self.now is None or self.stored is None:
            return float("inf")
        a, b = self.now, self.stored
        pairs = [(a[k], b.get(k)) for k in a] if isinstance(a, dict) else [(a, b)]
        worst = 0.0
        for x, y in pairs:
            if x is None or y is None:
                return float("inf")
            scale = max(abs(x), abs(y))
            worst = max(worst, abs(x - y) / scale if scale > 0 else 0.0)
        return worst


@dataclasses.dataclass(frozen=True)
class Reproduction:
    """What re-scoring one results file found.

    Attributes:
        estimator, split: the result.
        verdict: :data:`SAME_BITS`, :data:`WITHIN_TOLERANCE`, :data:`DIFFERENT` or
            :data:`NOT_CHECKED`.
        reason: why (the environment relation, or why it was not checked).
        cells: the cells re-scored.
    """

    estimator: str
    split: str
    verdict: str
    reason: str
    cells: tuple[CellCheck, ...] = ()

    @property
    def ok(self) -> bool:
        return self.verdict != DIFFERENT

    def digest(self) -> str:
        """The first 12 hex digits of a SHA-256 over the re-scored cells (architecture, seed
        and every score or component as the exact ``float.hex``): equal digests mean equal
        bits."""
        h = hashlib.sha256()
        for c in self.cells:
            now = c.now if isinstance(c.now, dict) else {"": c.now}
            values = ",".join(f"{k}={'None' if v is None else float(v).hex()}"
                              for k, v in sorted(now.items()))
            h.update(f"{c.arch_id}:{c.seed}:{values};".encode())
        return h.hexdigest()[:12]

    def line(self) -> str:
        worst = max((c.rel_diff() for c in self.cells), default=0.0)
        diff = f", largest relative difference {worst:.1e}" if self.cells and worst else ""
        now = f", re-scored {self.digest()}" if self.cells else ""
        return (f"{self.estimator} on {self.split}: {self.verdict} ({len(self.cells)} cells"
                f"{diff}{now}; {self.reason})")


def _not_checked(res: results.ResultFile, reason: str) -> Reproduction:
    return Reproduction(res.estimator.name, res.split.name, NOT_CHECKED, reason)


def reproduce_result(path: Path, *, data_dir: str | None = None, cache_dir: Path | None = None,
                     n_cells: int = 3) -> Reproduction:
    """Re-score ``n_cells`` cells (at most 3: first, middle, last) of the results file at
    ``path`` and compare them with its scores file.

    Raises:
        results.ResultsSchemaError: the file is not a valid results file.
    """
    res = results.load_result(path)
    registry.discover()
    name, split_name = res.estimator.name, res.split.name
    if res.protocol.weights.source != "init":
        return _not_checked(res, f"scored on {res.protocol.weights.source} weights")
    est = registry.ESTIMATORS.find(name)
    if est is None:
        return _not_checked(res, "the estimator is not registered")
    if est.prepare is not None:
        return _not_checked(res, "one-shot: its scores need the supernet run")
    if est.info.version != res.estimator.version:
        return _not_checked(res, f"stored version v{res.estimator.version}, registered "
                                 f"v{est.info.version}: re-score it")
    split = load_split(split_name)
    if split.sha256 != res.split.sha256:
        return _not_checked(res, "the split file changed since")
    if not results.scores_match(res, path.with_name(res.scores_file)):
        return _not_checked(res, "its scores file is not the one recorded")
    seed = res.protocol.seeds[0]
    pop = est.info.population_level
    stored = {a: (c if pop else v) for a, s, v, c in
              results.read_scores_with_components(path.with_name(res.scores_file)) if s == seed}
    cfg = RunConfig(seeds=(seed,), n_batches=res.protocol.n_batches,
                    batch_size=res.protocol.batch_size, device=res.cost.device,
                    data_dir=data_dir, results_dir=path.parent.parent, resume=False,
                    determinism_checks=0, threads=1, options=dict(res.protocol.options),
                    **({"cache_dir": cache_dir} if cache_dir is not None else {}))
    set_threads(cfg.threads, cfg.device)
    session = Session.create([est], split, cfg)
    positions = probe_positions(list(range(len(split))))[:max(1, min(n_cells, 3))]
    cells = []
    for p in positions:
        rec = score_cell(session, [est], p, seed)[est.name]
        now = rec.components if pop else rec.score
        cells.append(CellCheck(split.arch_ids[p], seed, stored.get(split.arch_ids[p]), now))
    here = current_environment(cfg.device).to_dict()
    one_env, env = stored_environment(res)
    if all(c.same_bits for c in cells):
        where = "stored in this environment" if one_env and env == here else \
            "stored elsewhere, yet bit for bit"
        return Reproduction(name, split_name, SAME_BITS, where, tuple(cells))
    if one_env and env == here:
        return Reproduction(name, split_name, DIFFERENT, "stored in this environment: the "
                            "bits must match", tuple(cells))
    relation = "stored in several environments" if not one_env else \
        "stored in an unrecorded environment" if env is None else \
        f"stored on {_kind(env)}, here {_kind(here)}"
    if all(c.rel_diff() <= CROSS_ENV_RTOL for c in cells):
        return Reproduction(name, split_name, WITHIN_TOLERANCE,
                            f"{relation}; tolerance {CROSS_ENV_RTOL:g}", tuple(cells))
    return Reproduction(name, split_name, DIFFERENT, f"{relation}; beyond the tolerance "
                        f"{CROSS_ENV_RTOL:g}", tuple(cells))


def _kind(env: dict) -> str:
    """A CPU kind for people: ``AMD EPYC (AVX2)``."""
    return f"{env.get('device_name') or '?'} ({env.get('capability') or '?'})"


def reproduce_dir(results_dir: Path, *, estimators: Sequence[str] = (),
                  splits: Sequence[str] = (), data_dir: str | None = None,
                  cache_dir: Path | None = None, n_cells: int = 3
                  ) -> Iterator[Reproduction]:
    """:func:`reproduce_result` for every results file under ``results_dir`` (optionally only
    the named estimators and splits), in name order."""
    for path in sorted(Path(results_dir).glob("*/*.json")):
        if estimators and path.parent.name not in estimators:
            continue
        if splits and path.stem not in splits:
            continue
        yield reproduce_result(path, data_dir=data_dir, cache_dir=cache_dir, n_cells=n_cells)


__all__ = ["DIFFERENT", "NOT_CHECKED", "SAME_BITS", "WITHIN_TOLERANCE", "CellCheck",
           "Reproduction", "reproduce_dir", "reproduce_result"]
