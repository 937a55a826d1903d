"""Time limits the harness puts on an estimator's calls (``score`` and ``prepare``).

The limit is a ``SIGALRM`` timer in the scoring process (main thread only), raising
:class:`ArchTimeout`, a ``BaseException`` (as ``KeyboardInterrupt``), so that an estimator's
own ``except Exception`` cannot turn it into a score. A call that blocks the signal or ignores
it is not stopped: that needs the worker-process isolation the trusted-results issue asks for.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


class ArchTimeout(BaseException):
    """Raised inside an estimator call that exceeded its time limit."""


def call_with_timeout(fn: Callable[[], Any], timeout: float,
                      what: str = "the per-architecture limit") -> Any:
    """Run ``fn`` under a time limit of ``timeout`` seconds (0 or less: none; outside the main
    thread or without ``setitimer``: none either)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not timeout or timeout <= 0 or not usable:
        return fn()

    def on_alarm(signum, frame):
        raise ArchTimeout(f"exceeded {what} of {timeout:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
