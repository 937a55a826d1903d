"""Supernet training throughput next to its floor (issue: one-shot estimators on the CPU).

For each supernet shape and memory format, the same sequence of de-isomorphic cells and
augmented batches is trained two ways:

* **supernet** -- :func:`harness.oneshot.training.train_step` on the weight-sharing supernet
  (what a training run does per step, minus data preparation, measured separately);
* **floor** -- the same cell as a stand-alone network carrying the supernet's weights
  (:func:`harness.oneshot.transfer.extract_network`), one forward, backward and SGD step at the
  same batch size: the work no weight-sharing implementation can avoid.

The ratio supernet / floor says how much the weight sharing itself costs. ``data`` is the time
to draw one augmented batch (done on the training process, between steps). Results go to
``benchmarks/results/oneshot-<device>-<date>.json`` and are printed.

Run: ``pytest benchmarks/test_oneshot_training.py -m bench -p no:xdist -s``
(``ESTBENCH_ONESHOT_STEPS=N`` steps per measurement, default 30).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.bench

SHAPES = ((1, 8), (1, 16), (5, 16))  # (cells per stage, channels); (5, 16) is the paper's
FORMATS = ("contiguous", "channels_last")
WARMUP = 3
RESULTS: list[dict] = []


def _steps() -> int:
    return int(os.environ.get("ESTBENCH_ONESHOT_STEPS", "30"))


@pytest.fixture(scope="module")
def data_dir() -> str:
    from harness.data import DataError, resolve_data_dir

    try:
        return str(resolve_data_dir(None))
    except DataError as exc:
        pytest.skip(f"benchmark data not available: {exc}")


@pytest.mark.parametrize("memory_format", FORMATS)
@pytest.mark.parametrize("shape", SHAPES, ids=[f"{c}cell-{w}ch" for c, w in SHAPES])
def test_supernet_step_against_its_floor(shape, memory_format, data_dir):
    import torch

    from harness.oneshot.config import SupernetConfig, TrainConfig
    from harness.oneshot.images import load_split_images, train_batch
    from harness.oneshot.sampling import make_sampler
    from harness.oneshot.supernet import build_supernet
    from harness.oneshot.training import dropout_generator, make_optimizer, train_step
    from harness.oneshot.transfer import extract_network

    torch.set_num_threads(1)
    cells, channels = shape
    net_cfg = replace(SupernetConfig(), channels=channels, cells_per_stage=cells,
                      memory_format=memory_format)
    cfg = TrainConfig(sampler="deiso", epochs=1, seed=20, supernet=net_cfg)
    n = WARMUP + _steps()
    images = load_split_images(cfg, data_dir)
    sampler = make_sampler("deiso", data_dir)
    step_cells = [sampler.cell_at(cfg.seed, t) for t in range(n)]
    t0 = time.perf_counter()
    batches = [train_batch(images, cfg, 0, t) for t in range(n)]
    data_s = (time.perf_counter() - t0) / n
    model = build_supernet(net_cfg, seed=cfg.seed)
    opt = make_optimizer(model, cfg)
    nets = [extract_network(model, c) for c in step_cells]  # before training: same shapes

    def supernet(t: int) -> None:
        x, y = batches[t]
        train_step(model, opt, step_cells[t], x, y, cfg,
                   dropout_generator(cfg.seed, t, torch.device("cpu")))

    def floor(t: int) -> None:
        net = nets[t]
        sgd = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay)
        x, y = batches[t]
        net.train()
        sgd.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        sgd.step()

    timings = {}
    for name, fn in (("supernet", supernet), ("floor", floor)):
        per_step = []
        for t in range(n):
            s = time.perf_counter()
            fn(t)
            if t >= WARMUP:
                per_step.append(time.perf_counter() - s)
        timings[name] = float(np.median(per_step))
    bs = cfg.batch_size
    row = {"cells_per_stage": cells, "channels": channels, "memory_format": memory_format,
           "batch_size": bs, "steps": n - WARMUP, "threads": torch.get_num_threads(),
           "supernet_s_per_step": timings["supernet"], "floor_s_per_step": timings["floor"],
           "supernet_images_per_s": bs / timings["supernet"],
           "floor_images_per_s": bs / timings["floor"],
           "ratio_to_floor": timings["supernet"] / timings["floor"],
           "data_s_per_batch": data_s,
           "epoch_min": timings["supernet"] * (len(images.train_y) // bs) / 60}
    RESULTS.append(row)
    print(json.dumps(row))
    assert row["supernet_images_per_s"] > 0 and row["floor_images_per_s"] > 0


@pytest.fixture(scope="module", autouse=True)
def _write_report():
    yield
    if not RESULTS:
        return
    import torch

    from harness.run.environment import device_name, git_commit

    out = Path(__file__).parent / "results"
    date = _dt.date.today().isoformat()
    path = out / f"oneshot-cpu-{date}.json"
    k = 2
    while path.exists():
        path = out / f"oneshot-cpu-{date}-{k}.json"
        k += 1
    meta = {"generated_by": "pytest benchmarks/test_oneshot_training.py -m bench",
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "device_name": device_name("cpu"), "torch": torch.__version__,
            "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "harness_commit": git_commit(),
            "load_average_at_end": os.getloadavg()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": RESULTS}, indent=1) + "\n")
    print(f"\nwrote {path}")
