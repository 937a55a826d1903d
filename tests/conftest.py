"""Shared fixtures for estbench's own tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The benchmark data directory (``$ESTBENCH_DATA``); the suite needs the real data."""
    from harness.data import resolve_data_dir

    return str(resolve_data_dir(os.environ.get("ESTBENCH_DATA")))


@pytest.fixture(scope="session")
def demo_results(tmp_path_factory, data_dir):
    """The demo results (``random`` and ``params`` on the demo split), scored once per test
    run in this numeric environment and shared by the xdist workers; treat as read-only."""
    from leaderboard.demo import shared_demo_results

    base = tmp_path_factory.getbasetemp()
    return shared_demo_results(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base,
                               data_dir)


@pytest.fixture(autouse=True)
def _single_thread():
    """Pin torch to one thread per test: results are then bit-reproducible across machines
    with different core counts, and two xdist workers do not oversubscribe two cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def estimator_package(tmp_path, monkeypatch, name: str):
    """A throw-away package of estimator files, ``<tmp_path>/<name>/``, importable (here and
    in spawned workers, which inherit ``sys.path``); a generator for fixtures: what the
    package's files registered and imported is forgotten afterwards."""
    import sys

    from harness import api, registry

    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for mod in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[mod]
    for est in api.ESTIMATORS.names():
        if api.ESTIMATORS.origin(est).startswith(f"{name}."):
            api.ESTIMATORS.unregister(est)
    registry.rescan()


def assert_resumes_exactly(cfg, root, data_dir) -> None:
    """Train run ``cfg`` to its last epoch straight (under ``root/a``, saving every epoch) and
    in two calls stopped after epoch 1 (``root/b``); the final weights must be the same bits.
    Leaves ``root/a`` holding every checkpoint, for scoring."""
    import torch

    from harness.oneshot import checkpoints
    from harness.oneshot.training import train

    train(cfg, cache_dir=root / "a", data_dir=data_dir,
          save_epochs=list(range(1, cfg.epochs + 1)), log=None)
    train(cfg, cache_dir=root / "b", data_dir=data_dir, until_epoch=1, log=None)
    train(cfg, cache_dir=root / "b", data_dir=data_dir, log=None)
    a = checkpoints.load_checkpoint(checkpoints.checkpoint_path(root / "a", cfg, cfg.epochs))
    b = checkpoints.load_checkpoint(checkpoints.checkpoint_path(root / "b", cfg, cfg.epochs))
    assert list(a["model"]) == list(b["model"])
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
