"""The checkpoint journal: one JSON line per scored (architecture, seed), fsync'ed at once.

A run killed at any moment loses at most the architecture in flight, and resumes without
redoing finished work. A checkpoint made with other settings is never overwritten: the run
stops and names the settings that differ (:class:`CheckpointMismatch`); ``--no-resume`` moves
the old file aside, never deletes it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import api, data, results
from harness.run.environment import NumericEnvironment
from harness.scoring_key import ScoringKey

#: How a scoring call failed: a bad return value, an exception, the time limit, or global
#: torch state it changed (:mod:`harness.torch_state`).
FAILURE_KINDS: tuple[str, ...] = ("value", "raised", "timeout", "state")


@dataclass(frozen=True)
class Record:
    """One estimator's outcome for one (architecture, seed).

    Attributes:
        arch_id: the architecture's id in its benchmark table.
        seed: the run's seed.
        score: the score, or ``None`` when the call failed.
        error: what went wrong (one line for bad values, the traceback for exceptions).
        wall_s: seconds over all batches.
        gpu_s: CUDA-event seconds (CUDA runs only).
        env: the :class:`NumericEnvironment` it was computed in, as a dict (``None`` in
            checkpoints written before environments were recorded).
        failure: one of :data:`FAILURE_KINDS`, or ``None``.
        components: a population-level estimator's component scores (``None`` for a failed
            component); ``score`` is then ``None`` until the aggregation runs.
        origin: ``None`` when scored by this harness run; ``"stored result"`` when taken over
            from the results file after its probe (:mod:`harness.run.stored`): such
            a record has no timing of its own.
    """

    arch_id: int
    seed: int
    score: float | None
    error: str | None
    wall_s: float
    gpu_s: float | None = None
    env: dict | None = None
    failure: str | None = None
    components: dict[str, float | None] | None = None
    origin: str | None = None

    def __post_init__(self) -> None:
        if self.failure is not None and self.failure not in FAILURE_KINDS:
            raise ValueError(f"failure must be one of {FAILURE_KINDS}, not {self.failure!r}")

    def to_json(self) -> str:
        d = asdict(self)
        # Absent fields keep older checkpoints' lines and today's ordinary ones identical.
        for key in ("components", "origin"):
            if d[key] is None:
                del d[key]
        return json.dumps(d, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        """Also reads older lines: a formatted environment string, no failure kind."""
        d = dict(d)
        if isinstance(d.get("env"), str):
            d["env"] = NumericEnvironment.from_legacy_key(d["env"]).to_dict()
        if "failure" not in d and d.get("error"):
            # Checkpoints of schema 1 told failures apart only by message.
            err = d["error"]
            d["failure"] = ("value" if err.startswith(("returned", "mean over")) else
                            "timeout" if err.startswith("timeout") else "raised")
        return cls(**d)

    @classmethod
    def of(cls, est: api.Estimator, arch_id: int, seed: int,
           outputs: dict[str, float | None], error: str | None, wall_s: float,
           gpu_s: float | None, env: dict | None, failure: str | None) -> Record:
        """The record of ``est``'s outputs on one cell. A scalar estimator's one output is
        kept as ``score`` (the layout every checkpoint and scores file has), a population-level
        estimator's as ``components``."""
        if est.info.population_level:
            return cls(arch_id, seed, None, error, wall_s, gpu_s, env, failure, dict(outputs))
        return cls(arch_id, seed, outputs[api.SCORE], error, wall_s, gpu_s, env, failure)

    def outputs(self) -> dict[str, float | None]:
        """The outputs by name: the components, or ``{"score": score}``."""
        return dict(self.components) if self.components is not None else {api.SCORE: self.score}

    @property
    def environment(self) -> NumericEnvironment | None:
        return None if self.env is None else NumericEnvironment.from_dict(self.env)


Records = dict[tuple[int, int], Record]


class CheckpointMismatch(RuntimeError):
    """A checkpoint exists for this (estimator, split) but was made with other settings."""

    def __init__(self, path: Path, differences: dict[str, tuple[Any, Any]]):
        self.path = path
        self.differences = differences
        diff = "; ".join(f"{k}: checkpoint {a!r}, this run {b!r}"
                         for k, (a, b) in differences.items())
        super().__init__(
            f"{path} holds scores made with other settings ({diff}). Nothing was overwritten. "
            "Re-run with the checkpoint's settings to resume it, or pass --no-resume to move it "
            "aside (it is kept as .old-<time>) and start over.")


#: The header field holding the :class:`ScoringKey` (checkpoints written before the key
#: existed hold the same fields under :data:`LEGACY_HEADER`, read as the same key).
HEADER = "scoring_key"
LEGACY_HEADER = "fingerprint"


def _header(lines: list[str], cls: type[ScoringKey] = ScoringKey) -> ScoringKey | None:
    """The scoring key of a checkpoint's first line, read as a ``cls`` (the class of the key
    it is compared with), or ``None`` when it has none."""
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    stored = header.get(HEADER, header.get(LEGACY_HEADER))
    try:
        return cls.from_dict(stored)
    except ValueError:
        return None


def read_checkpoint(path: Path, key: ScoringKey) -> Records | None:
    """The records of the checkpoint at ``path``, or None when it is missing or was made with
    another scoring key. A torn line (a kill mid-write, or a writer still appending) is
    skipped.
    """
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    if _header(lines, type(key)) != key:
        return None
    out: Records = {}
    for line in lines[1:]:
        try:
            rec = Record.from_dict(json.loads(line))
        except (ValueError, TypeError):
            continue
        if rec.score is not None and not math.isfinite(rec.score):
            continue  # not written by the harness (it writes no NaN): scored again
        out[(rec.arch_id, rec.seed)] = rec
    return out


def header_unreadable(path: Path, cls: type[ScoringKey] = ScoringKey) -> bool:
    """Whether the file at ``path`` has content but no readable scoring-key line (a damaged
    first line): its records cannot be matched to settings, so they are never reused, and the
    file is never overwritten either."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return True
    return bool(lines) and _header(lines, cls) is None


def key_differences(path: Path, key: ScoringKey) -> dict[str, tuple[Any, Any]]:
    """Settings in which the checkpoint at ``path`` differs from ``key`` (empty when it
    matches, is missing, or has no readable header)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return {}
    old = _header(lines, type(key))
    return {} if old is None else old.differences(key)


def other_checkpoint_records(own: Path, results_dir: Path, est_name: str, split_name: str,
                             key: ScoringKey) -> Records:
    """Records of every other checkpoint of ``est_name`` on ``split_name`` (any sharding)
    made with ``key``, so that a split can be re-sharded mid-run: shards ``1/4`` and
    ``3/4`` started beside an unfinished ``1/2`` take over what it already scored, and the
    merge of ``0/2, 1/2`` fills ``1/2``'s gaps from them."""
    out: Records = {}
    for path in results.checkpoint_paths(results_dir, est_name, split_name):
        if path.resolve() != Path(own).resolve():
            out.update(read_checkpoint(path, key) or {})
    return out


FINALIZED = {"finalized": True}


def mark_finalized(path: Path) -> None:
    """Append the trailer saying this checkpoint's run was finalized into a results file."""
    with open(path, "a") as fh:
        fh.write(json.dumps(FINALIZED) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def is_finalized(path: Path) -> bool:
    """Whether the last line of the checkpoint is the finalized trailer."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return False
    try:
        return bool(lines) and json.loads(lines[-1]) == FINALIZED
    except ValueError:
        return False


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``<path>.old-<UTC time>`` (never deletes a user's scores)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.old-{stamp}")
    os.replace(path, target)
    return target


class Checkpoint:
    """Append-only JSONL of :class:`Record`; the first line is the run's scoring key.

    Every record is flushed and fsync'ed as soon as it is computed. A truncated last line
    (killed mid-write) is ignored on resume.

    Args:
        path: the checkpoint file.
        key: what determines the scores (:class:`ScoringKey`).
        resume: reuse a matching checkpoint. Without it an existing file is moved aside.

    A checkpoint of other settings whose run was finalized (its scores are in the results file
    this run replaces, as any re-run does) is replaced; an unfinished one never is.

    Raises:
        CheckpointMismatch: when resuming and an unfinished file was made with another
            scoring key.
    """

    def __init__(self, path: Path, key: ScoringKey, resume: bool):
        self.path = path
        self.key = key
        self.records: Records = {}
        self.moved_aside: Path | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            if resume and header_unreadable(path, type(key)):
                raise CheckpointMismatch(path, {"scoring-key line": ("unreadable (damaged?)",
                                                                    "this run's")})
            if resume:
                diff = key_differences(path, key)
                if diff and not is_finalized(path):
                    raise CheckpointMismatch(path, diff)
                self.records = read_checkpoint(path, key) or {}
            else:
                self.moved_aside = move_aside(path)
        self.resumed = len(self.records)
        # Rewrite cleanly (drops a torn last line) before appending.
        self.rewrite()
        self._fh = open(path, "a")

    def adopt(self, records: Records, wanted: set[tuple[int, int]]) -> int:
        """Append the ``wanted`` records this checkpoint lacks (taken from another checkpoint
        of the same scoring key); returns how many were adopted."""
        n = 0
        for key in sorted(wanted - self.records.keys()):
            if key in records:
                self.add(records[key])
                n += 1
        return n

    def replace_all(self, records: Records) -> None:
        """Make the file hold exactly ``records`` (a merge writes the unsharded checkpoint)."""
        self.records = dict(records)
        self._fh.close()  # the rewrite replaces the file: append to the new one
        self.rewrite()
        self._fh = open(self.path, "a")

    def rewrite(self) -> None:
        # A resumed checkpoint of the legacy header is rewritten with today's.
        text = json.dumps({HEADER: self.key.to_dict()}) + "\n"
        text += "".join(r.to_json() + "\n" for r in self.records.values())
        data.atomic_write_bytes(self.path, lambda fh: fh.write(text.encode()))

    def add(self, rec: Record) -> None:
        self.records[(rec.arch_id, rec.seed)] = rec
        self._fh.write(rec.to_json() + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()
