"""Options, the fixed cell sample and the summary report of the throughput benchmarks.

Run with ``pytest benchmarks/ -m bench`` (``pyproject.toml`` deselects ``bench`` by default and
``testpaths`` is ``tests/``, so the default test run never collects these). Options::

    --bench-device=cpu|cuda[:k]   default: cuda when torch sees one, else cpu
    --bench-split=NAME            default nb201-c10 (every NAS-Bench-201 cell); any split
    --bench-cells=N               default 50: random_subset(len(split), N, seed=CELL_SEED)
    --bench-estimators=a,b        default: every registered zero-shot estimator
    --bench-threads=T             torch CPU threads (default 1, as the harness's default)
    --bench-results-dir=DIR       default benchmarks/results

At the end of the session the measurements of every test that ran are written to
``DIR/<device>[-<split>]-<date>.json`` and ``.md`` (the split named unless it is the default;
a ``-2``, ``-3``... suffix keeps earlier files of the same day) and the Markdown table is
printed in the terminal summary.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SPLIT = "nb201-c10"  # the default split: all 15,625 NAS-Bench-201 cells, positions = arch ids
CELL_SEED = 20  # random_subset(len(split), n_cells, seed=CELL_SEED): fixed forever
SEED = 20  # network initialisation and batch order (the paper's first seed)
BATCH_SIZE = 64
FLOORS = ("build", "forward", "forward_backward", "forward_class_vjps", "forward_hvp")
#: Floors named by the estimator's definition (``docs/speed.md``, "Floors") where counting its
#: autograd calls would mislead: AZ-NAS runs one vector-Jacobian product per pair of cells,
#: which together make one backward pass; VKDNW-agg carries VKDNW's class VJPs (and AZ-NAS's and
#: jacob_cov's passes, so it sits above that floor).
FLOOR_OF = {"az_nas": "forward_backward", "vkdnw": "forward_class_vjps",
            "vkdnw_agg": "forward_class_vjps", "grasp": "forward_hvp"}
FLOOR_LABELS = {"build": "build", "forward": "forward", "forward_backward": "forward+backward",
                "forward_class_vjps": "forward+(C-1) VJPs", "forward_hvp": "forward+hvp"}

_REPORT = pytest.StashKey["BenchReport"]()
_DEVICE = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("estbench-bench", "estbench throughput benchmarks (benchmarks/)")
    g.addoption("--bench-device", default=None,
                help="cpu or cuda[:k] (default: cuda when available, else cpu)")
    g.addoption("--bench-split", default=SPLIT,
                help="the split whose cells are sampled (default: %(default)s)")
    g.addoption("--bench-cells", type=int, default=50,
                help="cells in the fixed sample of the split (default: %(default)s)")
    g.addoption("--bench-estimators", default=None,
                help="comma list of estimators (default: every zero-shot estimator)")
    g.addoption("--bench-threads", type=int, default=1,
                help="torch CPU threads (default: %(default)s, the harness's default)")
    g.addoption("--bench-results-dir", default=str(Path(__file__).parent / "results"),
                help="where the summary JSON/Markdown go (default: benchmarks/results)")


def _device(config: pytest.Config) -> str:
    import torch

    device = config.getoption("bench_device")
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not device.startswith("cuda"):
        raise pytest.UsageError(f"--bench-device must be cpu or cuda[:k], not {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise pytest.UsageError("--bench-device=cuda but torch sees no CUDA device")
    return device


def selected_estimators(config: pytest.Config) -> list[str]:
    """Names from ``--bench-estimators``, or every registered zero-shot estimator."""
    from harness import registry

    spec = config.getoption("bench_estimators")
    if not spec:
        return [n for n, e in registry.discover().items() if e.info.kind == "zero-shot"]
    try:
        return [e.name for e in registry.resolve(spec)]
    except registry.UnknownEstimatorError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("bench_cells") < 1:
        raise pytest.UsageError("--bench-cells must be >= 1")
    if config.getoption("bench_threads") < 1:
        raise pytest.UsageError("--bench-threads must be >= 1")
    config.stash[_DEVICE] = _device(config)
    config.stash[_REPORT] = BenchReport(Path(config.getoption("bench_results_dir")))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "estimator_name" in metafunc.fixturenames:
        names = selected_estimators(metafunc.config)
        metafunc.parametrize("estimator_name", names, ids=names)


@dataclass
class BenchEnv:
    """Everything a benchmark needs, built once per session.

    Attributes:
        session: the harness's scoring session on the benchmarked split (``nb201-c10`` unless
            ``--bench-split``; seed 20, one batch of 64, the chosen device); its batch cache
            already holds the one batch on the device. ``cfg``, ``split``, ``space`` and
            ``batch_cache`` are its parts.
        positions: the sampled cells' positions in the split, ascending.
        arch_ids: their benchmark arch ids, in the same order.
        specs: their architecture specs, in the same order.
        estimators: the benchmarked estimators, in the order given.
    """

    session: Any
    positions: list[int]
    arch_ids: list[int]
    specs: list[Any]
    estimators: list[Any]

    @property
    def cfg(self) -> Any:
        return self.session.cfg

    @property
    def split(self) -> Any:
        return self.session.split

    @property
    def space(self) -> Any:
        return self.session.space

    @property
    def batch_cache(self) -> Any:
        return self.session.batches

    @property
    def on_cuda(self) -> bool:
        return self.cfg.device.startswith("cuda")


@pytest.fixture(scope="session")
def bench_env(request: pytest.FixtureRequest) -> BenchEnv:
    import torch

    from harness import data, registry
    from harness.run import RunConfig, Session
    from harness.run.environment import set_threads
    from harness.splits import load_split
    from harness.splits.generate import random_subset

    config = request.config
    n_cells = config.getoption("bench_cells")
    try:
        data_dir = str(data.resolve_data_dir(None))
    except data.DataError as exc:
        pytest.skip(f"benchmark data not available: {exc}")
    cfg = RunConfig(seeds=(SEED,), n_batches=1, batch_size=BATCH_SIZE,
                    device=config.stash[_DEVICE], data_dir=data_dir,
                    threads=config.getoption("bench_threads"), determinism_checks=0)
    set_threads(cfg.threads, cfg.device)
    try:
        split = load_split(config.getoption("bench_split"))
    except (KeyError, ValueError, FileNotFoundError) as exc:
        raise pytest.UsageError(f"--bench-split: {exc.args[0] if exc.args else exc}") from None
    if n_cells > len(split):
        raise pytest.UsageError(f"--bench-cells must be at most {len(split)} on {split.name}, "
                                f"not {n_cells}")
    positions = random_subset(len(split), n_cells, seed=CELL_SEED)
    ests = [registry.get(n) for n in selected_estimators(config)]
    session = Session.create(ests, split, cfg)
    env = BenchEnv(session=session, positions=[int(p) for p in positions],
                   arch_ids=[int(split.arch_ids[p]) for p in positions],
                   specs=[session.specs[p] for p in positions], estimators=ests)
    env.batch_cache.get(SEED, 0)  # decode and transfer outside every timed loop
    if env.on_cuda:
        torch.cuda.synchronize()
    report = config.stash[_REPORT]
    report.meta = _meta(env)
    return env


@pytest.fixture
def bench_report(request: pytest.FixtureRequest) -> BenchReport:
    return request.config.stash[_REPORT]


def _meta(env: BenchEnv) -> dict:
    import torch

    from harness.run.environment import device_name, git_commit

    return {
        "generated_by": "pytest benchmarks/ -m bench (benchmarks/test_throughput.py)",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": env.cfg.device,
        "device_name": device_name(env.cfg.device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "harness_commit": git_commit(),
        "split": env.split.name,
        "positions": env.positions,
        "cells": len(env.arch_ids),
        "cell_sample": f"harness.splits.generate.random_subset({len(env.split)}, "
                       f"{len(env.arch_ids)}, seed={CELL_SEED})",
        "arch_ids": env.arch_ids,
        "seed": SEED,
        "batch_size": BATCH_SIZE,
        "n_batches": 1,
        "num_classes": env.space.datasets[env.split.dataset],
    }


@dataclass
class BenchReport:
    """Collects each test's sweep statistics and writes the session's summary.

    Attributes:
        results_dir: where ``<device>[-<split>]-<date>.json`` / ``.md`` go.
        meta: run-wide facts (device, torch, cells...), set by the ``bench_env`` fixture.
        floors: floor name → statistics.
        alone: estimator → statistics of the estimator scored alone.
        joint: statistics of all estimators scored together (``None`` if not run).
        written: the JSON path once written.
    """

    results_dir: Path
    meta: dict = field(default_factory=dict)
    floors: dict[str, dict] = field(default_factory=dict)
    alone: dict[str, dict] = field(default_factory=dict)
    joint: dict | None = None
    written: Path | None = None

    def empty(self) -> bool:
        return not (self.floors or self.alone or self.joint)

    def summary(self) -> dict:
        """All measurements plus the derived ratios (``None`` where a part did not run).

        ``ratio_to_floor`` compares mean seconds per cell (equivalently, sweep totals over the
        same cells) with the floor of the passes the estimator's warm-up call ran: the
        forward+hvp floor after a create-graph backward, the forward + class-VJPs floor after
        at least ``C - 1`` backward calls (one per class but the last, as VKDNW), the
        forward+backward floor after any other backward (``torch.autograd.backward``/``grad``),
        else the forward floor.
        """
        def ratio(a: float | None, b: float | None) -> float | None:
            return a / b if a is not None and b else None

        floor_mean = {k: v["per_cell_mean_s"] for k, v in self.floors.items()}
        alone = {}
        for name, st in self.alone.items():
            which = FLOOR_OF.get(name) or (
                     "forward_hvp" if st.get("uses_second_derivative")
                     else "forward_class_vjps"
                     if st.get("backward_calls", 0) >= self.meta.get("num_classes", 10) - 1
                     else "forward_backward" if st.get("uses_backward") else "forward")
            alone[name] = dict(st, floor=which,
                               ratio_to_floor=ratio(st["per_cell_mean_s"], floor_mean.get(which)),
                               ratio_to_forward=ratio(st["per_cell_mean_s"],
                                                      floor_mean.get("forward")),
                               ratio_to_forward_backward=ratio(
                                   st["per_cell_mean_s"], floor_mean.get("forward_backward")))
        joint = None
        if self.joint is not None:
            members = self.joint["estimators"]
            have_all = all(m in self.alone for m in members)
            sum_sep = sum(self.alone[m]["total_s"] for m in members) if have_all else None
            joint = dict(self.joint, sum_separate_total_s=sum_sep,
                         ratio_joint_to_sum_separate=ratio(self.joint["total_s"], sum_sep),
                         ratio_to_forward_backward=ratio(self.joint["per_cell_mean_s"],
                                                         floor_mean.get("forward_backward")))
        return {**self.meta, "floors": self.floors, "estimators": alone, "joint": joint}

    def markdown(self, summary: dict) -> str:
        """The summary as a Markdown table (the format of ``docs/speed.md``'s figures)."""
        def f(v: float | None, fmt: str) -> str:
            return "—" if v is None else format(v, fmt)

        m = summary
        head = (f"{m.get('cells', '?')} cells of {m.get('split')} "
                f"({m.get('cell_sample', '')}), seed "
                f"{m.get('seed')}, batch {m.get('batch_size')}, {m.get('device')} "
                f"({m.get('device_name')}), {m.get('threads')} thread(s), torch "
                f"{m.get('torch')}, commit {m.get('harness_commit')}, {m.get('date')}")
        lines = [head, "",
                 "| run | cells/s | median s/cell | p90 s/cell | × floor | floor | "
                 "peak RSS MB | RSS growth MB | peak CUDA MB |",
                 "|---|---:|---:|---:|---:|---|---:|---:|---:|"]

        def row(label: str, st: dict, x: float | None, floor: str) -> None:
            lines.append(
                f"| {label} | {f(st['cells_per_s'], '.2f')} | {f(st['per_cell_median_s'], '.4f')}"
                f" | {f(st['per_cell_p90_s'], '.4f')} | {f(x, '.2f')} | {floor} | "
                f"{f(st['peak_rss_mb'], '.0f')} | {f(st.get('rss_growth_mb'), '+.0f')} | "
                f"{f(st['peak_cuda_mb'], '.0f')} |")

        for name in FLOORS:
            if name in m["floors"]:
                row(f"floor: {FLOOR_LABELS[name]}", m["floors"][name], None, "")
        for name, st in sorted(m["estimators"].items()):
            row(name, st, st["ratio_to_floor"], FLOOR_LABELS[st["floor"]])
        if m["joint"] is not None:
            j = m["joint"]
            row(f"joint ({len(j['estimators'])} estimators)", j,
                j["ratio_to_forward_backward"], "forward+backward")
            lines += ["", "RSS growth: resident size after the last cell minus after the "
                          "first (steady memory: no growth with the number of cells).",
                      "", f"Joint / sum of separate sweeps: "
                          f"{f(j['ratio_joint_to_sum_separate'], '.3f')} "
                          f"({f(j['total_s'], '.2f')} s vs "
                          f"{f(j['sum_separate_total_s'], '.2f')} s)."]
        return "\n".join(lines) + "\n"

    def write(self) -> Path | None:
        """Write the JSON and Markdown summaries once; returns the JSON path."""
        if self.written is not None or self.empty():
            return self.written
        s = self.summary()
        self.results_dir.mkdir(parents=True, exist_ok=True)
        dev = str(s.get("device", "unknown")).replace(":", "")
        if s.get("split", SPLIT) != SPLIT:  # the default split's files keep their old names
            dev = f"{dev}-{s['split']}"
        base = stem = f"{dev}-{_dt.date.today().isoformat()}"
        k = 1
        while (self.results_dir / f"{stem}.json").exists():
            k += 1
            stem = f"{base}-{k}"
        path = self.results_dir / f"{stem}.json"
        path.write_text(json.dumps(s, indent=1, allow_nan=False) + "\n")
        path.with_suffix(".md").write_text(self.markdown(s))
        self.written = path
        return path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    report = session.config.stash.get(_REPORT, None)
    if report is not None and not hasattr(session.config, "workerinput"):
        report.write()


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT, None)
    if report is None or report.empty():
        return
    path = report.write()
    terminalreporter.section("estbench throughput")
    terminalreporter.write(report.markdown(report.summary()))
    terminalreporter.write_line(f"written to {path} and {path.with_suffix('.md')}")

