"""The memory trace of long runs (benchmarks/rss_trace.py): the slope it reports."""

from __future__ import annotations

import os

import pytest

from benchmarks.rss_trace import slope_mb_per_1000, tree_rss_mb


def test_slope_ignores_start_up_and_reads_a_known_leak():
    # 300 MB of start-up, then 2 MB per 1,000 cells: the first 10 % of progress is excluded.
    samples = [{"progress": p, "rss_mb": (100.0 if p < 500 else 400.0) + 0.002 * p}
               for p in range(0, 10001, 250)]
    assert slope_mb_per_1000(samples) == pytest.approx(2.0)
    flat = [{"progress": p, "rss_mb": 812.5} for p in range(0, 5001, 500)]
    assert slope_mb_per_1000(flat) == pytest.approx(0.0, abs=1e-9)
    assert slope_mb_per_1000([{"progress": None, "rss_mb": 1.0}] * 5) is None


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_tree_rss_of_this_process_is_positive():
    assert tree_rss_mb(os.getpid()) > 10.0
