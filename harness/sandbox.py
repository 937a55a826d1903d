"""Running untrusted estimator code away from ground truth: the guard, and two short-lived
guarded workers (describe a file; run a population aggregation).

Every worker is a :class:`harness.worker.Worker` (a *spawn* process: a fresh interpreter that
inherits only its arguments, whose limits the parent enforces). Before any estimator code
runs, :class:`GroundTruthGuard` is installed as an audit hook (:func:`sys.addaudithook`,
which cannot be removed): opening a benchmark table of the data directory (every file of
:data:`harness.data.TABLES`, and any other ``.csv`` there) or another process's ``/proc``
files raises ``PermissionError`` with "estimator X tried to read <file>: the contract
forbids ground truth".

* :func:`describe_module` imports one untrusted file in a worker and returns what it
  registers (metadata only), or why it is broken. The registry
  (:mod:`harness.registry`) uses it for every file it does not trust (:mod:`harness.trust`),
  so such a file is never imported in the process that reads ground truth.
* :class:`RemoteAggregate` is an untrusted population-level estimator's aggregation, run in a
  worker on the component scores and specs it would receive in process.

Scoring untrusted estimators, cell by cell, is :mod:`harness.run.isolation`'s job; it uses the
same guard.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import api, data, torch_state, worker

#: Seconds a worker may take to import an estimator file (interpreter, torch, the file).
IMPORT_LIMIT_S = 300.0
#: Seconds an untrusted aggregation may take over one seed's population.
AGGREGATE_LIMIT_S = 600.0


def forbidden_files(data_dir: str | os.PathLike) -> frozenset[str]:
    """Real paths of every benchmark table in ``data_dir`` (accuracies, training times)."""
    root = Path(data_dir)
    return frozenset(os.path.realpath(root / spec.relpath) for spec in data.TABLES.values())


@dataclass(frozen=True)
class GroundTruthGuard:
    """An audit hook that refuses to open ground truth (see the module docstring).

    Attributes:
        estimator: named in the refusal.
        forbidden: real paths of the benchmark tables.
        data_root: real path of the data directory (any ``.csv`` below it is refused too).
    """

    estimator: str
    forbidden: frozenset[str]
    data_root: str
    #: refusals so far (the worker fails the cell even if the estimator caught the error)
    attempts: list[str] = dataclasses.field(default_factory=list)

    def refused(self, path: Any) -> str | None:
        """The real path of ``path`` if opening it is refused, else ``None``."""
        if isinstance(path, int):
            return None  # an already open descriptor: its opening was checked
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        if real in self.forbidden:
            return real
        if self.data_root and real.startswith(self.data_root + os.sep) \
                and real.lower().endswith(".csv"):
            return real
        parts = real.split(os.sep)
        if len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() \
                and parts[2] != str(os.getpid()):
            return real  # another process's memory or files (the parent holds the truth)
        return None

    def __call__(self, event: str, args: tuple) -> None:
        if event == "open" and args:
            real = self.refused(args[0])
            if real is not None:
                message = (f"estimator {self.estimator!r} tried to read {real}: the contract "
                           "forbids ground truth")
                self.attempts.append(message)
                raise PermissionError(message)


def guard_for(estimator: str, data_dir: str | os.PathLike | None = None) -> GroundTruthGuard:
    """The guard of ``estimator``'s worker for the data directory ``data_dir`` (or
    ``$ESTBENCH_DATA``). Without a data directory there are no tables to protect; other
    processes' files are still refused."""
    try:
        root = data.resolve_data_dir(data_dir)
    except data.DataError:
        return GroundTruthGuard(estimator, frozenset(), "")
    return GroundTruthGuard(estimator, forbidden_files(root), os.path.realpath(root))


# --------------------------------------------------------------------------------------------
# describing a file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Described:
    """One estimator an untrusted file registers, as its worker saw it.

    Attributes:
        info: its metadata.
        module: the module that defines it.
        origin: where it is defined (file and line), as the registry records origins.
        path: its source file.
        has_prepare, has_aggregate: whether it declares ``prepare`` / ``aggregate``.
    """

    info: api.EstimatorInfo
    module: str
    origin: str
    path: str
    has_prepare: bool
    has_aggregate: bool


@dataclass(frozen=True)
class DescribeFailure:
    """Why an untrusted file could not be registered (one line, and the traceback's end)."""

    message: str
    detail: str = ""


def _describe_worker(conn: Any, module: str, guard: GroundTruthGuard) -> None:
    sys.addaudithook(guard)
    before = set(api.ESTIMATORS.names())
    settings = torch_state.snapshot()
    try:
        importlib.import_module(module)
    except BaseException as exc:  # noqa: BLE001 -- a submission's own bug, reported
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        msg = str(exc) if isinstance(exc, api.DuplicateEstimatorError) else \
            f"{module} could not be imported: {last}"
        conn.send(DescribeFailure(msg, traceback.format_exc(limit=-3)))
        return
    changed = torch_state.changes(settings, torch_state.snapshot())
    if changed:
        conn.send(DescribeFailure(
            f"{module} changed global torch state when imported ({changed}); the harness "
            "restored it. A submission must leave process-wide settings as it found them"))
        return
    found = []
    for name in sorted(set(api.ESTIMATORS.names()) - before):
        est = api.ESTIMATORS.get(name)
        found.append(Described(est.info, est.module, api.ESTIMATORS.origin(name),
                               str(est.source_file), est.prepare is not None,
                               est.aggregate is not None))
    conn.send(found)


def describe_module(module: str, data_dir: str | os.PathLike | None = None
                    ) -> list[Described] | DescribeFailure:
    """Import ``module`` in a guarded worker; what it registers, or why it cannot be."""
    name = module.rsplit(".", 1)[-1]
    try:
        return worker.call(_describe_worker, (module, guard_for(name, data_dir)),
                           IMPORT_LIMIT_S, f"estbench-describe-{name}")
    except worker.WorkerTimeout:
        return DescribeFailure(f"{module} did not finish importing within "
                               f"{IMPORT_LIMIT_S:.0f} s")
    except worker.WorkerDied as exc:
        return DescribeFailure(f"{module} could not be imported: its worker died (exit code "
                               f"{exc.exitcode})")


# --------------------------------------------------------------------------------------------
# untrusted code's stand-ins in the trusted process
# --------------------------------------------------------------------------------------------


class UntrustedCode(RuntimeError):
    """Untrusted estimator code was about to run in the process that reads ground truth."""


def _refuse(name: str, what: str):
    def refuse(*_args: Any, **_kw: Any) -> Any:
        raise UntrustedCode(
            f"estimator {name!r} is not trusted in this process (its file is not the one the "
            f"committed catalog records), so its {what} runs only in a worker of its own; "
            "score it through the harness (a run, a shard, a campaign), which isolates it")
    refuse.__qualname__ = f"untrusted {what} of {name}"
    return refuse


def _aggregate_worker(conn: Any, module: str, name: str, pop: api.Population,
                      guard: GroundTruthGuard) -> None:
    sys.addaudithook(guard)
    try:
        importlib.import_module(module)
        out = np.asarray(api.ESTIMATORS.get(name).aggregation(pop), dtype=np.float64)
    except BaseException:  # noqa: BLE001 -- reported to the parent
        conn.send(("error", traceback.format_exc(limit=6)))
        return
    if guard.attempts:
        conn.send(("error", guard.attempts[0]))
        return
    conn.send(("ok", out))


@dataclass(frozen=True)
class RemoteAggregate:
    """An untrusted estimator's population aggregation, run in a guarded worker per call.

    Raises (when called):
        RuntimeError: the aggregation raised, tried to read ground truth, timed out, or its
            worker died; the message says which.
    """

    name: str
    module: str
    data_dir: str | None = None

    def __call__(self, pop: api.Population) -> np.ndarray:
        try:
            kind, payload = worker.call(
                _aggregate_worker, (self.module, self.name, pop,
                                    guard_for(self.name, self.data_dir)),
                AGGREGATE_LIMIT_S, f"estbench-aggregate-{self.name}")
        except worker.WorkerTimeout:
            raise RuntimeError(f"{self.name}: the aggregation did not finish within "
                               f"{AGGREGATE_LIMIT_S:.0f} s (killed by the harness)") from None
        except worker.WorkerDied as exc:
            raise RuntimeError(f"{self.name}: the aggregation's worker died (exit code "
                               f"{exc.exitcode})") from None
        if kind != "ok":
            raise RuntimeError(f"{self.name}: the aggregation failed in its worker: {payload}")
        return payload


def stand_in(d: Described, data_dir: str | os.PathLike | None = None) -> api.Estimator:
    """The trusted process's :class:`~harness.api.Estimator` for an untrusted definition:
    its metadata, and functions that refuse to run here (scoring and ``prepare``) or run in a
    worker (the aggregation)."""
    name = d.info.name
    return api.Estimator(
        info=d.info, score=_refuse(name, "scoring"),
        prepare=_refuse(name, "prepare()") if d.has_prepare else None, module=d.module,
        aggregate=RemoteAggregate(name, d.module, None if data_dir is None else str(data_dir))
        if d.has_aggregate else None,
        untrusted=True, path=Path(d.path))
