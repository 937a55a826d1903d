"""The one worker design (harness.worker): answers, limits enforced from outside, deaths."""

from __future__ import annotations

import os
import time

import pytest

from harness.worker import Worker, WorkerDied, WorkerTimeout, call


def echo(conn, prefix):
    conn.send(("ready", os.getpid()))
    while (msg := conn.recv()) is not None:
        if msg == "sleep":
            time.sleep(60)
        if msg == "die":
            os._exit(7)
        conn.send(f"{prefix}{msg}")


def once(conn, value):
    conn.send(value * 2)


def never(conn):
    time.sleep(60)


def test_a_worker_answers_in_another_process_and_stops_politely():
    w = Worker(echo, (">",), "echo")
    kind, pid = w.start(60)
    assert kind == "ready" and pid != os.getpid() and w.alive
    assert w.request("a", 10) == ">a" and w.request("b", 10) == ">b"
    assert w.close() == 0 and not w.alive


def test_an_overrun_is_killed_from_outside_and_a_death_is_reported():
    w = Worker(echo, (">",), "echo")
    w.start(60)
    with pytest.raises(WorkerTimeout, match="did not answer within 0.5 s"):
        w.request("sleep", 0.5)
    assert not w.alive
    w.start(60)  # a fresh process after the kill
    with pytest.raises(WorkerDied) as died:
        w.request("die", 10)
    assert died.value.exitcode == 7 and not w.alive


def test_a_one_off_call_returns_its_message_or_times_out():
    assert call(once, (21,), 60, "once") == 42
    with pytest.raises(WorkerTimeout):
        call(never, (), 0.5, "never")
