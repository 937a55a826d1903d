"""Throughput of the zero-shot estimators on a fixed sample of cells of one split.

Every test sweeps the same cells once (``benchmark.pedantic(rounds=1, iterations=1)``: the
sweep is the unit), after one untimed warm-up call on the first cell, and times each cell with
``time.perf_counter`` (synchronising CUDA after each cell). The three families:

* **floors** — what any estimator that builds the network pays at least: ``build`` (construct,
  seeded init, move to the device), ``forward`` (build + one ``torch.no_grad`` forward of the
  batch), ``forward_backward`` (build + one cross-entropy forward and backward),
  ``forward_class_vjps`` (build + an eval-mode forward + one vector-Jacobian product to the
  input per class but the last: VKDNW's per-image Jacobian) and ``forward_hvp`` (build,
  forward, the weight gradient with its graph and one backward through it: what a
  Hessian-gradient product such as GraSP's cannot avoid);
* **alone** — each estimator through the harness (``harness.run.score_cell`` with ``[est]``),
  exactly what one architecture costs in a run scored with that estimator only;
* **joint** — all benchmarked estimators in one ``score_cell`` call, sharing the network
  builds, the batch and the passes of :mod:`harness.passes`.

``benchmarks/conftest.py`` defines the options, the cell sample and the summary files.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from benchmarks.conftest import FLOORS, SEED, BenchEnv, BenchReport

pytestmark = pytest.mark.bench

CellFn = Callable[[int], dict | None]  # cell index -> harness Records by estimator (or None)


def _reset_rss_peak() -> bool:
    """Reset the kernel's peak-RSS counter (Linux ``clear_refs``); False where unsupported.

    Freed heap is handed back to the kernel first (glibc's ``malloc_trim``): otherwise pages an
    earlier sweep used stay resident, and every later sweep's "peak" is at least theirs.
    """
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the peak may include an earlier sweep's pages
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _current_rss_mb() -> float | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * resource.getpagesize() / 2**20


@contextlib.contextmanager
def _count_autograd() -> Iterator[list[int]]:
    """Count ``torch.autograd.backward`` / ``torch.autograd.grad`` calls inside the block
    (``Tensor.backward`` goes through ``torch.autograd.backward``)."""
    import torch

    calls = [0, 0]  # all calls, calls with create_graph=True (a second derivative follows)
    orig_backward, orig_grad = torch.autograd.backward, torch.autograd.grad

    def backward(*args, **kwargs):
        calls[0] += 1
        calls[1] += bool(kwargs.get("create_graph", False))
        return orig_backward(*args, **kwargs)

    def grad(*args, **kwargs):
        calls[0] += 1
        calls[1] += bool(kwargs.get("create_graph", False))
        return orig_grad(*args, **kwargs)

    torch.autograd.backward, torch.autograd.grad = backward, grad
    try:
        yield calls
    finally:
        torch.autograd.backward, torch.autograd.grad = orig_backward, orig_grad


def _sweep(env: BenchEnv, fn: CellFn) -> dict:
    """Call ``fn`` once per sampled cell and return the sweep's statistics.

    Returns:
        ``cells``, ``total_s`` (sum of per-cell times), ``cells_per_s``, ``per_cell_median_s``,
        ``per_cell_p90_s``, ``per_cell_mean_s``, ``peak_rss_mb`` (the process's peak resident
        set during the sweep, or since it started where the peak cannot be reset),
        ``rss_start_mb``, ``peak_rss_reset``, ``peak_cuda_mb`` (``None`` on CPU),
        ``n_errors``, ``first_error``, for harness calls ``per_estimator_wall_s_median``, and
        the steady-memory check: ``rss_after_cell_mb`` (resident size after each cell),
        ``rss_growth_mb`` (after the last cell minus after the first) and
        ``rss_slope_mb_per_100_cells`` (least-squares slope over the second half of the
        cells, where allocator warm-up is over; ``None`` below 4 cells).
    """
    import torch

    dev = torch.device(env.cfg.device)
    rss_start = _current_rss_mb()
    reset = _reset_rss_peak()
    if env.on_cuda:
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    times: list[float] = []
    rss: list[float | None] = []
    walls: dict[str, list[float]] = {}
    errors: list[str] = []
    for i in range(len(env.arch_ids)):
        t0 = time.perf_counter()
        recs = fn(i)
        if env.on_cuda:
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t0)
        rss.append(_current_rss_mb())  # outside the timed interval
        for name, rec in (recs or {}).items():
            walls.setdefault(name, []).append(rec.wall_s)
            if rec.error:
                errors.append(f"{name} on arch {rec.arch_id}: {rec.error}")
    t = np.array(times)
    growth, slope = _rss_trend(rss)
    return {
        "cells": len(times),
        "total_s": float(t.sum()),
        "cells_per_s": float(len(t) / t.sum()) if t.sum() > 0 else None,
        "per_cell_median_s": float(np.median(t)),
        "per_cell_p90_s": float(np.percentile(t, 90)),
        "per_cell_mean_s": float(t.mean()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "rss_start_mb": rss_start,
        "peak_rss_reset": reset,
        "peak_cuda_mb": torch.cuda.max_memory_allocated(dev) / 2**20 if env.on_cuda else None,
        "n_errors": len(errors),
        "first_error": errors[0][-2000:] if errors else None,
        "per_estimator_wall_s_median": {k: float(np.median(v)) for k, v in walls.items()}
        if walls else None,
        "rss_after_cell_mb": rss,
        "rss_growth_mb": growth,
        "rss_slope_mb_per_100_cells": slope,
    }


def _rss_trend(rss: list[float | None]) -> tuple[float | None, float | None]:
    """(last - first, least-squares slope per 100 cells over the second half) of ``rss``."""
    if not rss or any(v is None for v in rss):
        return None, None
    growth = float(rss[-1] - rss[0])
    half = rss[len(rss) // 2:]
    if len(rss) < 4 or len(half) < 2:
        return growth, None
    slope = float(np.polyfit(np.arange(len(half), dtype=float), np.array(half), 1)[0])
    return growth, 100.0 * slope


def _harness_cell_fn(env: BenchEnv, ests: list) -> CellFn:
    from harness.run import Session, score_cell

    # A session of exactly these estimators: its prepared states are built once, here.
    session = Session.create(ests, env.split, env.cfg)
    session.batches = env.batch_cache  # the batch is already decoded and on the device
    states = session.states(SEED)

    def one(i: int) -> dict:
        return score_cell(session, ests, env.positions[i], SEED, states)

    return one


def _floor_cell_fn(env: BenchEnv, floor: str) -> CellFn:
    import torch

    from harness import api

    dev = torch.device(env.cfg.device)
    x, y = env.batch_cache.get(SEED, 0)

    def one(i: int) -> None:
        # Built exactly as ArchContext.build does: seeded init, moved to the device, train mode.
        net = env.space.build(env.specs[i], env.split.dataset, SEED).to(dev).train()
        if floor == "forward":
            with torch.no_grad():
                net(x)
        elif floor == "forward_backward":
            net.zero_grad(set_to_none=True)
            api.cross_entropy(net(x), y).backward()
        elif floor == "forward_class_vjps":
            # VKDNW's passes: a forward in eval mode and one vector-Jacobian product per class
            # but the last, here to the input (VKDNW stops at its first 128 parameter tensors,
            # which sit at the start of the network). Looped: a batched VJP
            # (``is_grads_batched``) measured slower on the CPU and gives the same bits.
            net.eval()
            xg = x.detach().requires_grad_(True)
            out = net(xg)
            for c in range(out.shape[1] - 1):
                torch.autograd.grad(out[:, c].sum(), xg, retain_graph=True)
        elif floor == "forward_hvp":
            # What a Hessian-gradient product (GraSP) cannot avoid: the forward, the gradient
            # with its graph, and the backward through that graph.
            weights = [m.weight for m in net.modules()
                       if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
            grads = torch.autograd.grad(api.cross_entropy(net(x), y), weights,
                                        create_graph=True, allow_unused=True)
            terms = [(g.detach() * g).sum() for g in grads if g is not None]
            z = sum(terms[1:], terms[0]) if terms else None
            if z is not None and z.requires_grad:
                torch.autograd.grad(z, weights, allow_unused=True)
        return None

    return one


@pytest.mark.parametrize("floor", FLOORS)
def test_floor(benchmark, bench_env: BenchEnv, bench_report: BenchReport, floor: str) -> None:
    """Build / forward / forward+backward of the sampled networks on the same batch."""
    one = _floor_cell_fn(bench_env, floor)
    one(0)  # warm-up (allocator, cuDNN/kernel selection), untimed
    stats = benchmark.pedantic(_sweep, args=(bench_env, one), rounds=1, iterations=1)
    benchmark.extra_info.update(stats)
    bench_report.floors[floor] = stats


def test_estimator_alone(benchmark, bench_env: BenchEnv, bench_report: BenchReport,
                         estimator_name: str) -> None:
    """One estimator through the harness, alone, on every sampled cell."""
    from harness import registry

    est = registry.get(estimator_name)
    one = _harness_cell_fn(bench_env, [est])
    with _count_autograd() as calls:
        one(0)  # warm-up, untimed; also tells whether the estimator runs a backward pass
    stats = benchmark.pedantic(_sweep, args=(bench_env, one), rounds=1, iterations=1)
    stats["uses_backward"] = calls[0] > 0
    stats["backward_calls"] = calls[0]
    stats["uses_second_derivative"] = calls[1] > 0
    benchmark.extra_info.update(stats)
    bench_report.alone[estimator_name] = stats
    assert stats["n_errors"] == 0, stats["first_error"]


def test_joint(benchmark, bench_env: BenchEnv, bench_report: BenchReport) -> None:
    """All benchmarked estimators together (shared builds, batch and passes)."""
    ests = bench_env.estimators
    one = _harness_cell_fn(bench_env, ests)
    one(0)  # warm-up, untimed
    stats = benchmark.pedantic(_sweep, args=(bench_env, one), rounds=1, iterations=1)
    stats["estimators"] = [e.name for e in ests]
    benchmark.extra_info.update(stats)
    bench_report.joint = stats
    assert stats["n_errors"] == 0, stats["first_error"]
