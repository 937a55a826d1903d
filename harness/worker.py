"""One worker-process design for running code the harness does not trust in its own process.

A :class:`Worker` is a ``multiprocessing`` *spawn* process (a fresh interpreter that inherits
only its arguments) running ``target(conn, *args)``. The parent talks to it over a pipe and
enforces every limit from outside: it waits for each answer at most a given time, then kills
the process (:class:`WorkerTimeout`); a process that dies is reported with its exit code
(:class:`WorkerDied`). The estimator code inside cannot switch a limit off.

Used for scoring cell by cell (:mod:`harness.run.isolation`: a long-lived worker per
estimator, restarted after a kill), for one-off calls (:func:`call`: :mod:`harness.sandbox`
describes an untrusted file and runs an untrusted aggregation) and for a campaign's tasks,
the shards and training runs (:class:`harness.campaign.executors.LocalExecutor`: started with
:meth:`Worker.spawn`, watched with :meth:`Worker.ended`, stopped with a signal).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from typing import Any


class WorkerError(RuntimeError):
    """A worker did not answer: see :class:`WorkerTimeout` and :class:`WorkerDied`."""


class WorkerTimeout(WorkerError):
    """No answer within the limit; the worker was killed."""


class WorkerDied(WorkerError):
    """The worker exited before answering.

    Attributes:
        exitcode: its exit code (negative: killed by that signal).
    """

    def __init__(self, message: str, exitcode: int | None):
        super().__init__(message)
        self.exitcode = exitcode


class Worker:
    """A spawned process running ``target(conn, *args)`` and the parent's end of its pipe.

    The target sends a first message when it is ready (or its only message, for a one-off
    call), then answers each message the parent sends; ``None`` asks it to return.
    """

    def __init__(self, target: Callable[..., None], args: tuple, name: str):
        self.target, self.args, self.name = target, args, name
        self._proc: Any = None
        self._conn: Any = None

    @property
    def alive(self) -> bool:
        return self._proc is not None

    def spawn(self, env: dict[str, str] | None = None, daemon: bool = True) -> None:
        """Start the process without waiting for it (``env``: variables it starts with, on
        top of this process's; ``daemon=False`` for a worker that may start workers)."""
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=self.target, args=(child, *self.args), daemon=daemon,
                           name=self.name)
        saved = {k: os.environ.get(k) for k in env or {}}
        os.environ.update(env or {})  # a spawned interpreter reads them as it starts
        try:
            proc.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        self._proc, self._conn = proc, parent

    def start(self, limit_s: float | None) -> Any:
        """Spawn the process and return its first message.

        Raises:
            WorkerTimeout: no message within ``limit_s`` (the process is killed).
            WorkerDied: the process exited first.
        """
        self.spawn()
        return self._receive(limit_s)

    def ended(self) -> tuple[bool, Any]:
        """Without waiting: ``(True, message)`` once the worker has sent its message (it is
        then stopped), ``(True, WorkerDied)`` if it exited without one, else
        ``(False, None)``."""
        if self._conn.poll(0):
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                code = self.close(kill=True)
                return True, WorkerDied(f"{self.name} exited (exit code {code})", code)
            self.close()
            return True, message
        if not self._proc.is_alive():
            code = self.close(kill=True)
            return True, WorkerDied(f"{self.name} exited (exit code {code})", code)
        return False, None

    def send_signal(self, signum: int) -> None:
        """Signal the process (a task worker stops at its next cell on SIGTERM)."""
        if self._proc is not None and self._proc.pid is not None:
            try:
                os.kill(self._proc.pid, signum)
            except ProcessLookupError:
                pass

    def request(self, message: Any, limit_s: float | None) -> Any:
        """Send ``message`` and return the answer (same errors as :meth:`start`)."""
        try:
            self._conn.send(message)
        except (BrokenPipeError, OSError):
            code = self.close(kill=True)
            raise WorkerDied(f"{self.name} exited (exit code {code})", code) from None
        return self._receive(limit_s)

    def _receive(self, limit_s: float | None) -> Any:
        if not self._conn.poll(limit_s):
            self.close(kill=True)
            raise WorkerTimeout(f"{self.name} did not answer within {limit_s:.1f} s "
                                "(killed by the harness)")
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            code = self.close(kill=True)
            raise WorkerDied(f"{self.name} exited (exit code {code})", code) from None

    def close(self, kill: bool = False) -> int | None:
        """Stop the process (politely, or ``kill``); its exit code (``None`` if none ran)."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is None:
            return None
        if kill:
            proc.kill()
        else:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
            proc.join()
        conn.close()
        return proc.exitcode


def call(target: Callable[..., None], args: tuple, limit_s: float | None, name: str) -> Any:
    """Run ``target(conn, *args)`` in a fresh worker and return the one message it sends
    (same errors as :meth:`Worker.start`); the worker is stopped afterwards."""
    worker = Worker(target, args, name)
    try:
        return worker.start(limit_s)
    finally:
        worker.close(kill=False)
