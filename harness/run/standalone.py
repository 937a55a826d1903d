"""Standalone cost: what running one estimator alone costs, per architecture.

A results file's ``cost`` is measured in the run that scored it, often jointly with other
estimators, where a shared pass is charged to the first estimator that asked for it (fisher's
gradient pass to grad_norm). That is not what a user pays to run the estimator alone. This
module measures it: the estimator alone, on one thread, in a fresh process, on ``n_cells``
architectures of the split at evenly spaced positions (fixed, so every estimator is timed on
the same cells), for one seed. Recorded: median and 90th-percentile seconds per architecture
(network build and scoring, as the harness times a cell) and the process's peak resident
memory, with the RSS before the first cell for reference (Python, torch and the data), and the
fingerprint of the estimator's code (:func:`harness.trust.code_sha256`): a change of code that
keeps the version and the scores (a speed-up, a memory fix) makes the measurement out of date,
and the site and ``--missing`` can tell.

The measurement is written by the harness beside the committed results, as
``leaderboard/costs/<estimator>/<split>.json`` (:data:`COSTS_DIR`), and read by the site for its
cost column. ``python -m harness cost --estimator A,B --split S`` measures (each estimator in its
own process, so one's peak memory is not another's).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import resource
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness import api, data, trust
from harness.run.config import RunConfig
from harness.run.environment import current_environment, set_threads
from harness.run.finalize import code_sha256
from harness.run.scoring import score_cell
from harness.run.session import Session
from harness.splits import Split

#: Where the committed measurements live (one file per estimator and split).
COSTS_DIR = Path(__file__).resolve().parents[2] / "leaderboard" / "costs"
#: Layout version of a standalone-cost file.
COST_SCHEMA_VERSION = 1
#: Cells timed per (estimator, split) by default.
DEFAULT_CELLS = 20


@dataclasses.dataclass(frozen=True)
class StandaloneCost:
    """One estimator's standalone cost on one split.

    Attributes:
        estimator, estimator_version: what was timed.
        split, split_sha256: on which split's cells.
        arch_ids: the architectures timed (evenly spaced positions of the split).
        seed: the seed (initialisation and batches).
        batch_size, n_batches: the protocol of the committed results.
        threads: torch CPU threads (1).
        s_per_arch_median, s_per_arch_p90: seconds per architecture (build + score).
        peak_rss_mb: peak resident memory of the measuring process.
        rss_before_mb: its resident memory before the first cell (interpreter, torch, data).
        n_failed: cells whose score failed (their time still counts).
        environment: the numeric environment (CPU kind, torch).
        measured_at: UTC time of the measurement.
        code_sha256: fingerprint of the estimator's code when it was measured
            (:func:`harness.trust.code_sha256`; ``None``: not recorded, in files written before
            it was, until ``python -m harness cost --record-code`` finds it in the history).
        uses_code_sha256: fingerprints of the estimators it runs through the harness
            (:func:`harness.trust.estimated_code`: ``vkdnw_agg`` runs ``vkdnw``), whose code
            costs time too; empty when it runs none, ``None`` when not recorded.
    """

    estimator: str
    estimator_version: str
    split: str
    split_sha256: str
    arch_ids: list[int]
    seed: int
    batch_size: int
    n_batches: int
    threads: int
    s_per_arch_median: float
    s_per_arch_p90: float
    peak_rss_mb: float
    rss_before_mb: float
    n_failed: int
    environment: dict[str, str]
    measured_at: str
    schema_version: int = COST_SCHEMA_VERSION
    code_sha256: str | None = None
    uses_code_sha256: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StandaloneCost:
        if d.get("schema_version") != COST_SCHEMA_VERSION:
            raise ValueError(f"standalone cost schema_version {d.get('schema_version')!r}, "
                             f"expected {COST_SCHEMA_VERSION}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def uses_code(est: api.Estimator) -> dict[str, str] | None:
    """:func:`harness.trust.estimated_code` of ``est`` as its files are now (``None`` without
    a readable source)."""
    path = est.source_file
    if path is None:
        return None
    try:
        return trust.estimated_code(est.name, trust.files_text_of(Path(path).parent))
    except (SyntaxError, ValueError):
        return None


def cost_path(costs_dir: Path, estimator: str, split: str) -> Path:
    return Path(costs_dir) / estimator / f"{split}.json"


def positions(n: int, n_cells: int) -> list[int]:
    """``n_cells`` evenly spaced positions of a split of ``n`` architectures (all when fewer)."""
    if n_cells >= n:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, n_cells)})


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def measure(est: api.Estimator, split: Split, *, n_cells: int = DEFAULT_CELLS, seed: int = 20,
            batch_size: int = 64, n_batches: int = 1, data_dir: str | None = None,
            device: str = "cpu") -> StandaloneCost:
    """Time ``est`` alone on ``n_cells`` cells of ``split`` (call it in a fresh process: the
    peak memory is the process's)."""
    if est.prepare is not None:
        raise ValueError(f"{est.name} is one-shot: its cost is its training plus scoring, "
                         "recorded in its results")
    cfg = RunConfig(seeds=(seed,), n_batches=n_batches, batch_size=batch_size, device=device,
                    data_dir=data_dir, resume=False, determinism_checks=0, threads=1)
    set_threads(cfg.threads, cfg.device)
    session = Session.create([est], split, cfg)
    chosen = positions(len(split), n_cells)
    session.batches.get(seed, 0)  # decode the batch before timing, as a run does once
    before = _rss_mb()
    walls, failed = [], 0
    for p in chosen:
        rec = score_cell(session, [est], p, seed)[est.name]
        walls.append(rec.wall_s)
        failed += rec.score is None and rec.components is None
    w = np.array(walls, dtype=np.float64)
    return StandaloneCost(
        estimator=est.name, estimator_version=str(est.info.version), split=split.name,
        split_sha256=split.sha256, arch_ids=[int(split.arch_ids[p]) for p in chosen],
        seed=seed, batch_size=batch_size, n_batches=n_batches, threads=1,
        s_per_arch_median=float(np.median(w)), s_per_arch_p90=float(np.percentile(w, 90)),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        rss_before_mb=before, n_failed=int(failed),
        environment=current_environment(device).to_dict(),
        measured_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        code_sha256=code_sha256(est), uses_code_sha256=uses_code(est))


def write(cost: StandaloneCost, costs_dir: Path = COSTS_DIR) -> Path:
    """Write ``cost`` atomically; returns its path."""
    path = cost_path(costs_dir, cost.estimator, cost.split)
    text = (json.dumps(cost.to_dict(), indent=1, sort_keys=True) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    data.atomic_write_bytes(path, lambda fh: fh.write(text))
    return path


def read(path: Path) -> StandaloneCost:
    """A committed measurement.

    Raises:
        ValueError: not a standalone-cost file of this layout.
    """
    return StandaloneCost.from_dict(json.loads(Path(path).read_text()))


def is_current(costs_dir: Path, est: api.Estimator, split: Split, n_cells: int,
               seed: int) -> bool:
    """Whether ``costs_dir`` already holds a measurement of this estimator version on this
    split (same split file, cells and seed) and of its code as it is now: a re-run with
    ``--missing`` skips it. A measurement that does not record its code's fingerprint counts
    as current (nothing is guessed; ``--record-code`` looks it up)."""
    path = cost_path(costs_dir, est.name, split.name)
    try:
        old = read(path)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    same_code = ((old.code_sha256 is None or old.code_sha256 == code_sha256(est))
                 and (old.uses_code_sha256 is None or old.uses_code_sha256 == uses_code(est)))
    return (old.estimator_version == est.info.version and old.split_sha256 == split.sha256
            and len(old.arch_ids) == min(n_cells, len(split)) and old.seed == seed
            and same_code)


#: What :func:`record_code` asks of a measurement file: ``(measurement file, estimator
#: name)`` → ``(its code's fingerprint, the fingerprints of the estimators it runs, where they
#: were found)``, or ``None`` when unknown.
CodeLookup = Callable[[Path, str], "tuple[str, dict[str, str], str] | None"]


def record_code(costs_dir: Path, code_of: CodeLookup) -> Iterator[str]:
    """Record the code fingerprints in every measurement under ``costs_dir`` that lacks them
    (``code_sha256`` or ``uses_code_sha256``).

    Args:
        costs_dir: the measurements (``<estimator>/<split>.json``).
        code_of: see :data:`CodeLookup` (the command passes the code committed with the
            measurement, from the git history). Where the file records its own fingerprint
            already, the lookup must agree with it, or nothing is written.

    Yields:
        One line per measurement file: what was done, or why nothing was.
    """
    for path in sorted(Path(costs_dir).glob("*/*.json")):
        try:
            cost = read(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            yield f"{path}: unreadable ({exc}); left alone"
            continue
        if cost.code_sha256 is not None and cost.uses_code_sha256 is not None:
            yield f"{path}: records its code already"
            continue
        found = code_of(path, cost.estimator)
        if found is None:
            yield (f"{path}: its code is not known (no commit holds this measurement, or the "
                   "estimator file is not in the first that does); left alone")
            continue
        own, uses, where = found
        if cost.code_sha256 is not None and cost.code_sha256 != own:
            yield (f"{path}: the code found at {where} is not the code it records; left "
                   "alone")
            continue
        write(dataclasses.replace(cost, code_sha256=own, uses_code_sha256=uses),
              Path(costs_dir))
        yield f"{path}: code fingerprints recorded from {where}"
