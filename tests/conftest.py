"""Shared fixtures for estbench's own tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The benchmark data directory (``$ESTBENCH_DATA``); the suite needs the real data."""
    from harness.data import resolve_data_dir

    return str(resolve_data_dir(os.environ.get("ESTBENCH_DATA")))


@pytest.fixture(autouse=True)
def _single_thread():
    """Pin torch to one thread per test: results are then bit-reproducible across machines
    with different core counts, and two xdist workers do not oversubscribe two cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
