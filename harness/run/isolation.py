"""Isolated scoring: an estimator under evaluation runs in a worker process without ground truth.

An *untrusted* estimator (a file the committed catalog does not record, so the registry never
imported it here: :mod:`harness.trust`) is always scored this way; with ``--isolate`` every
estimator of the run is. Each is scored in a worker process of its own
(``multiprocessing`` *spawn*: a fresh interpreter that inherits nothing but the arguments it is
given), and only there is its file imported. The parent keeps everything that must not be
reachable from estimator code: the accuracy tables, the metrics, the results files.

* **No path to ground truth.** The worker receives the split's architecture specs from the
  parent; it never loads a benchmark table. Before the estimator's module is imported, an audit
  hook (:func:`sys.addaudithook`, which cannot be removed) refuses to open any benchmark table
  of the data directory (every file of :data:`harness.data.TABLES`, and any other ``.csv``
  there) or another process's ``/proc`` files. A refused read raises ``PermissionError`` with
  "estimator X tried to read <file>: the contract forbids ground truth" inside the
  estimator's call, so the cell fails with that message and the contract fails by name; an
  estimator that catches the error still fails that cell with the same message.
* **Limits enforced from outside.** The worker still runs each call under the in-process timer
  (:mod:`harness.run.limits`). The parent waits for each cell at most
  :func:`cell_limit_s` (the per-call limit for each call, plus a margin); a worker that has not
  answered by then (the estimator switched the timer off, or caught it and slept on) is
  killed, the cell is recorded as a timeout, and the next cell starts a fresh worker. A worker
  that dies (``os._exit``, a crash in native code) is recorded the same way, as ``raised``.
* **Nothing shared.** Each isolated estimator has its own worker, so no pass, batch, global
  setting or module state is shared with another estimator.

Scores are the same bits as in process (the same :func:`harness.run.scoring.score_cell` runs in
the worker, on the same seeded networks and batches); ``tests/test_hostile.py`` checks it.
What isolation costs per architecture (starting the worker once, one message round trip per
cell, passes no longer shared) is measured by ``benchmarks/bench_isolation.py``.

Estimators with ``prepare()`` (one-shot) and runs on trained weights are not isolated: their
prepared state (a supernet) lives in the parent for curves and checkpoints. They are committed,
trusted code; ``--isolate`` refuses them with a message.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness import api, data
from harness.run.config import RunConfig, UsageError
from harness.run.environment import current_environment, set_threads
from harness.run.journal import Record
from harness.run.scoring import score_cell
from harness.run.session import Session
from harness.sandbox import GroundTruthGuard, forbidden_files
from harness.splits import load_split
from harness.worker import Worker, WorkerDied, WorkerTimeout

#: Seconds the parent adds to a cell's own limit before it kills the worker: messaging, and the
#: in-process timer's own reaction time.
MARGIN_S = 5.0
#: Seconds a worker may take to start (interpreter, torch, the estimator's module).
START_LIMIT_S = 300.0


@dataclass(frozen=True)
class WorkerInit:
    """What a worker is given: all it may know.

    Attributes:
        estimator: the estimator's name.
        module: the module that defines it (imported only in the worker).
        split: the split's name (its file lists architecture ids, not accuracies).
        specs: the split's architecture specs, in split order, from the parent.
        cfg: the run configuration.
        forbidden: real paths the worker may not open.
        data_root: real path of the data directory.
    """

    estimator: str
    module: str
    split: str
    specs: tuple[Any, ...]
    cfg: RunConfig
    forbidden: frozenset[str]
    data_root: str


def worker_main(conn: Any, init: WorkerInit) -> None:
    """The worker process: guard, import, then score cells until told to stop."""
    guard = GroundTruthGuard(init.estimator, init.forbidden, init.data_root)
    sys.addaudithook(guard)
    set_threads(init.cfg.threads, init.cfg.device)
    try:
        importlib.import_module(init.module)
        est = api.ESTIMATORS.get(init.estimator)
        session = Session((est,), load_split(init.split), init.cfg)
        session.__dict__["specs"] = list(init.specs)  # never read from the table here
    except BaseException:  # noqa: BLE001 -- reported to the parent, which stops the run
        conn.send(("error", traceback.format_exc(limit=8)))
        return
    conn.send(("ready", None))
    while True:
        msg = conn.recv()
        if msg is None:
            return
        position, seed = msg
        guard.attempts.clear()
        rec = score_cell(session, [est], position, seed)[est.name]
        if guard.attempts:
            # Caught or not, an attempt fails the cell: a score computed after trying to read
            # the answers is not trusted.
            rec = Record.of(est, rec.arch_id, rec.seed, dict.fromkeys(est.outputs),
                            guard.attempts[0], rec.wall_s, rec.gpu_s, rec.env, "raised")
        conn.send(("record", rec))


class WorkerStartError(RuntimeError):
    """A worker could not start: the estimator's module failed to import, or it timed out."""


def cell_limit_s(est: api.Estimator, cfg: RunConfig) -> float | None:
    """How long the parent waits for one cell (``None``: no limit, ``--arch-timeout=0``)."""
    if not cfg.arch_timeout_s:
        return None
    calls = 1 if est.info.data_independent else cfg.n_batches
    return cfg.arch_timeout_s * calls + MARGIN_S


class IsolatedScorer:
    """The parent's side of one estimator's worker: ``scorer(position, seed) -> Record``.

    A worker (:class:`harness.worker.Worker`) is started on first use and again after one was
    killed or died; it is stopped by :meth:`close`.
    """

    def __init__(self, session: Session, est: api.Estimator):
        cfg = session.cfg
        data_dir = data.resolve_data_dir(cfg.data_dir)
        self.est = est
        self.session = session
        self.init = WorkerInit(est.name, est.module, session.split.name,
                               tuple(session.specs), cfg, forbidden_files(data_dir),
                               os.path.realpath(data_dir))
        self.limit_s = cell_limit_s(est, cfg)
        self.starts = 0
        self._start_error: str | None = None
        self._worker = Worker(worker_main, (self.init,), f"estbench-worker-{est.name}")

    def _start(self) -> None:
        self.starts += 1
        try:
            kind, payload = self._worker.start(START_LIMIT_S)
        except WorkerTimeout:
            raise WorkerStartError(f"the worker of {self.est.name} did not start within "
                                   f"{START_LIMIT_S:.0f} s") from None
        except WorkerDied as exc:
            raise WorkerStartError(f"the worker of {self.est.name} died while starting "
                                   f"(exit code {exc.exitcode})") from None
        if kind != "ready":
            self._worker.close()
            raise WorkerStartError(f"the worker of {self.est.name} could not start:\n{payload}")

    def _failed(self, position: int, seed: int, kind: str, message: str,
                wall_s: float) -> Record:
        return Record.of(self.est, self.session.split.arch_ids[position], seed,
                         dict.fromkeys(self.est.outputs), message, wall_s, None,
                         current_environment(self.session.cfg.device).to_dict(), kind)

    def __call__(self, position: int, seed: int) -> Record:
        if not self._worker.alive:
            if self._start_error is not None:
                return self._failed(position, seed, "raised", self._start_error, 0.0)
            try:
                self._start()
            except WorkerStartError as exc:
                # The estimator's module cannot be imported here (an import-time read of
                # ground truth, a bug): every cell fails with that, without new attempts.
                self._start_error = str(exc)
                return self._failed(position, seed, "raised", self._start_error, 0.0)
        t0 = time.perf_counter()
        try:
            _kind, rec = self._worker.request((position, seed), self.limit_s)
        except WorkerTimeout:
            return self._failed(
                position, seed, "timeout",
                f"timeout: killed by the harness after {self.limit_s:.1f} s (the estimator "
                "did not return within --arch-timeout per call; its own timer was switched "
                "off or caught)", time.perf_counter() - t0)
        except WorkerDied as exc:
            return self._failed(position, seed, "raised",
                                f"the worker process died (exit code {exc.exitcode}) while "
                                "scoring", time.perf_counter() - t0)
        return rec

    def close(self) -> None:
        self._worker.close(kill=False)


def check_isolatable(estimators: list[api.Estimator], cfg: RunConfig) -> None:
    """Raises :class:`UsageError` for a run ``--isolate`` cannot serve."""
    if cfg.weights != "init":
        raise UsageError("an isolated estimator is scored on random initialisation only "
                         "(--weights=init): trained weights come from a supernet prepared in "
                         f"the harness ({', '.join(e.name for e in estimators)})")
    prepared = [e.name for e in estimators if e.prepare is not None]
    untrusted = [e for e in prepared if e in {x.name for x in estimators if x.untrusted}]
    if untrusted:
        raise UsageError(f"{', '.join(untrusted)} cannot be scored: an estimator with "
                         "prepare() keeps its state in the harness, which runs only trusted "
                         "code (a file the committed catalog records, `python -m harness "
                         "catalog --write` by a maintainer)")
    if prepared:
        raise UsageError(f"--isolate cannot isolate {', '.join(prepared)}: an estimator with "
                         "prepare() keeps its state in the harness (one-shot estimators are "
                         "committed, trusted code; score them without --isolate)")


@contextlib.contextmanager
def isolated(session: Session) -> Iterator[None]:
    """Route every untrusted estimator of ``session`` (with ``--isolate``, every estimator)
    through its own worker (``session.remote``) for the block, and stop the workers after it.
    Nothing when there is none."""
    chosen = [e for e in session.estimators if session.cfg.isolate or e.untrusted]
    if not chosen:
        yield
        return
    check_isolatable(chosen, session.cfg)
    scorers = {e.name: IsolatedScorer(session, e) for e in chosen}
    session.remote.update(scorers)
    try:
        yield
    finally:
        for name, scorer in scorers.items():
            scorer.close()
            session.remote.pop(name, None)
