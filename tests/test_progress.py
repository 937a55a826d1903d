"""Live progress: what the terminal shows while a run goes (a fake clock, no sleeping)."""

from __future__ import annotations

from harness.run.progress import PLAIN_INTERVAL_S, TTY_INTERVAL_S, Progress, format_duration


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _progress(tty: bool):
    out: list[str] = []
    clock = Clock()
    # No ticker thread: the test drives the clock (and the redraws) itself.
    return Progress(out.append, tty=tty, clock=clock, ticker=False), out, clock


def test_a_tty_line_is_redrawn_in_place_at_least_every_ten_seconds():
    assert TTY_INTERVAL_S <= 10
    p, out, clock = _progress(tty=True)
    p("relu_logdet on nb201-c10-1k", 0, 3000, 0.0, 0)
    assert out[-1].startswith("\r[estbench] relu_logdet on nb201-c10-1k: 0/3000 (arch, seed)")
    p("relu_logdet on nb201-c10-1k", 1, 3000, 2.0, 0)
    assert len(out) == 1  # too soon to redraw
    clock.t += TTY_INTERVAL_S
    p("relu_logdet on nb201-c10-1k", 30, 3000, 2.0, 0)
    assert len(out) == 2 and "30/3000" in out[-1] and "120.0/min" in out[-1]
    assert "ETA 24m45s" in out[-1] and out[-1].endswith("\x1b[K")
    # A slow cell: the ticker redraws on its own clock (elapsed time moves on).
    clock.t += TTY_INTERVAL_S
    p.draw()
    assert "elapsed 10s" in out[-1]
    p("relu_logdet on nb201-c10-1k", 3000, 3000, 2.0, 0)
    assert out[-1].endswith("ETA done\n")


def test_plain_output_writes_a_line_a_minute_and_says_what_was_resumed():
    p, out, clock = _progress(tty=False)
    p("params on nb201-c10-smoke", 40, 100, 0.0, 40)
    assert out == ["[estbench] params on nb201-c10-smoke: 40/100 (arch, seed) (40 %), "
                   "40 resumed from the checkpoint, 0.0/min, elapsed 0s, ETA ?\n"]
    clock.t += PLAIN_INTERVAL_S - 1
    p("params on nb201-c10-smoke", 60, 100, 1.0, 40)
    assert len(out) == 1
    clock.t += 1
    p("params on nb201-c10-smoke", 61, 100, 1.0, 40)
    assert len(out) == 2 and not out[-1].startswith("\r") and out[-1].endswith("\n")


def test_durations_read_like_a_person_would_write_them():
    assert format_duration(5) == "5s"
    assert format_duration(125) == "2m05s"
    assert format_duration(3 * 3600 + 60) == "3h01m"
    assert format_duration(float("inf")) == "?"
