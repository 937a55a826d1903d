"""Live progress of a run on the terminal: done/total, rate, ETA and what is being scored.

The scorer reports after every cell; a ticker thread redraws the line on its own clock so that a
slow cell (GraSP takes half a minute on NB-101) never leaves the screen silent: on a TTY the line
is redrawn in place at least every :data:`TTY_INTERVAL_S` seconds, otherwise a plain line is
written every :data:`PLAIN_INTERVAL_S` seconds (logs, CI).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

TTY_INTERVAL_S = 5.0
PLAIN_INTERVAL_S = 60.0


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Progress:
    """Progress lines for one front end.

    Args:
        write: writes a text fragment to the terminal (it handles pytest's capture).
        tty: redraw in place (``\\r``) instead of writing lines.
        interval_s: the redraw period (default by ``tty``).
        clock: ``time.monotonic`` (tests pass a fake one).
        ticker: redraw from a background thread between reports (tests drive :meth:`draw`).
    """

    def __init__(self, write: Callable[[str], None], tty: bool, interval_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic, ticker: bool = True):
        self.write = write
        self.tty = tty
        self.interval_s = interval_s if interval_s is not None else (
            TTY_INTERVAL_S if tty else PLAIN_INTERVAL_S)
        self.clock = clock
        self._lock = threading.Lock()
        self._state: tuple[str, int, int, float, int] | None = None
        self._started = clock()
        self._last_draw = -float("inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticker = ticker

    def line(self) -> str:
        """The current progress line (empty before the first report)."""
        if self._state is None:
            return ""
        label, done, total, rate, resumed = self._state
        eta = (total - done) / rate if rate > 0 else float("inf")
        pct = 100.0 * done / total if total else 100.0
        extra = f", {resumed} resumed from the checkpoint" if resumed else ""
        return (f"[estbench] {label}: {done}/{total} (arch, seed) ({pct:.0f} %){extra}, "
                f"{rate * 60:.1f}/min, elapsed {format_duration(self.clock() - self._started)}, "
                f"ETA {format_duration(eta) if done < total else 'done'}")

    def __call__(self, label: str, done: int, total: int, rate: float, resumed: int) -> None:
        """The scorer's callback (:data:`harness.run.scoring.ProgressFn`)."""
        with self._lock:
            first = self._state is None or self._state[0] != label
            self._state = (label, done, total, rate, resumed)
        if first or done == total or self.clock() - self._last_draw >= self.interval_s:
            self.draw(final=done == total)
        if self._ticker and self._thread is None:
            self._thread = threading.Thread(target=self._tick, name="estbench-progress",
                                            daemon=True)
            self._thread.start()

    def draw(self, final: bool = False) -> None:
        with self._lock:
            text = self.line()
            if not text:
                return
            self._last_draw = self.clock()
        if self.tty:
            self.write("\r" + text + ("\n" if final else "\x1b[K"))
        else:
            self.write(text + "\n")

    def _tick(self) -> None:
        while not self._stop.wait(min(self.interval_s, 1.0)):
            if self.clock() - self._last_draw >= self.interval_s:
                self.draw()

    def close(self) -> None:
        """Stop the ticker (the last line stays on screen)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.tty and self._state is not None and self._state[1] < self._state[2]:
            self.write("\n")
