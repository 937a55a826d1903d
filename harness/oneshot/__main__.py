"""Command line: ``python -m harness.oneshot {train,list,curve,bench}``.

Examples::

    python -m harness.oneshot train --sampler deiso --epochs 200 --device cuda --save-every 20
    python -m harness.oneshot list
    python -m harness.oneshot curve --sampler deiso --epochs 200 --at 40,80,120,160,200 \\
        --split nb201-c10-1k --out curve.json
    python -m harness.oneshot bench --steps 5 --archs 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from harness import data
from harness.oneshot import checkpoints
from harness.oneshot.config import EvalConfig, SupernetConfig, TrainConfig


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sampler", choices=("uniform", "deiso"), default="deiso")
    p.add_argument("--epochs", type=int, default=200, help="epoch budget (default: %(default)s)")
    p.add_argument("--seed", type=int, default=20, help="training seed (default: %(default)s)")
    p.add_argument("--sharing", default="full",
                   help="full | partition-op | partition-op<k> | partition-convs")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--channels", type=int, default=SupernetConfig.channels)
    p.add_argument("--cells-per-stage", type=int, default=SupernetConfig.cells_per_stage)
    p.add_argument("--subset", type=int, default=None,
                   help="use only this many CIFAR-10 training images (quick experiments)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--data-dir", default=None, help="default: $ESTBENCH_DATA")
    p.add_argument("--cache-dir", default=None,
                   help="default: $ESTBENCH_CACHE or ~/.cache/estbench (checkpoints go to "
                        "<cache-dir>/oneshot/<hash>/)")


def _config(a: argparse.Namespace) -> TrainConfig:
    net = replace(SupernetConfig(), channels=a.channels, cells_per_stage=a.cells_per_stage)
    return TrainConfig(sampler=a.sampler, epochs=a.epochs, seed=a.seed, sharing=a.sharing,
                       batch_size=a.batch_size, lr=a.lr, subset=a.subset, supernet=net)


def _setup(a: argparse.Namespace) -> tuple[str, str]:
    if a.threads:
        torch.set_num_threads(a.threads)
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cache = a.cache_dir or str(data._cache_dir())
    return device, cache


def cmd_train(a: argparse.Namespace) -> int:
    from harness.oneshot.training import default_save_epochs, train

    device, cache = _setup(a)
    cfg = _config(a)
    saves = default_save_epochs(cfg.epochs, a.save_every)
    print(f"run {cfg.config_hash()} -> {checkpoints.run_dir(cache, cfg)}", file=sys.stderr)
    res = train(cfg, cache_dir=cache, device=device, data_dir=a.data_dir, save_epochs=saves,
                until_epoch=a.until_epoch, log_every=a.log_every)
    print(json.dumps({"config_hash": cfg.config_hash(), "run_dir": str(res.run_dir),
                      "epoch": res.epoch, "resumed_from": res.resumed_from,
                      "saved": [str(p) for p in res.saved],
                      "seconds_per_step": res.seconds_per_step}, indent=1))
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    cache = a.cache_dir or str(data._cache_dir())
    for run in checkpoints.list_runs(cache):
        c = run.config
        print(f"{run.config_hash}  sampler={c.sampler} sharing={c.sharing} seed={c.seed} "
              f"budget={c.epochs} channels={c.supernet.channels} subset={c.subset} "
              f"checkpoints={list(run.epochs)}")
    return 0


def cmd_curve(a: argparse.Namespace) -> int:
    from harness.oneshot.curves import training_curve

    device, cache = _setup(a)
    cfg = _config(a)
    at = [int(e) for e in a.at.split(",")] if a.at else \
        checkpoints.available_epochs(cache, cfg)
    if not at:
        print(f"no checkpoints for run {cfg.config_hash()}", file=sys.stderr)
        return 1
    ecfg = EvalConfig(n_batches=a.eval_batches, batch_size=a.eval_batch_size)
    out = training_curve(cfg, at, a.split, cache_dir=cache, metric=a.metric,
                         iso_eval=a.iso_eval, ecfg=ecfg, device=device, data_dir=a.data_dir,
                         limit=a.limit, log=lambda m: print(m, file=sys.stderr, flush=True))
    text = json.dumps(out, indent=1)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    """Seconds per training step and per architecture scored, on random architectures."""
    from harness.oneshot.images import load_split_images, train_batch, validation_batches
    from harness.oneshot.sampling import make_sampler
    from harness.oneshot.scoring import OneShotEvaluator
    from harness.oneshot.supernet import build_supernet
    from harness.oneshot.training import dropout_generator, make_optimizer, train_step

    device, _cache = _setup(a)
    cfg = _config(a)
    images = load_split_images(cfg, a.data_dir)
    sampler = make_sampler(cfg.sampler, a.data_dir)
    model = build_supernet(cfg.supernet, cfg.sharing, seed=cfg.seed).to(device)
    opt = make_optimizer(model, cfg)
    step_times = []
    for t in range(a.steps):
        x, y = train_batch(images, cfg, 0, t)
        cell = sampler.cell_at(cfg.seed, t)
        t0 = time.perf_counter()
        train_step(model, opt, cell, x.to(device), y.to(device), cfg,
                   dropout_generator(cfg.seed, t, torch.device(device)))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        step_times.append(time.perf_counter() - t0)
    ecfg = EvalConfig(n_batches=a.eval_batches, batch_size=a.eval_batch_size)
    ev = OneShotEvaluator(model, validation_batches(images, ecfg), device, a.data_dir)
    rng = np.random.default_rng(0)
    arch_times = []
    for i in sampler.sample_indices(rng, a.archs):
        t0 = time.perf_counter()
        ev.evaluate(sampler.population[int(i)])
        arch_times.append(time.perf_counter() - t0)
    print(json.dumps({
        "device": device, "threads": torch.get_num_threads(), "batch_size": cfg.batch_size,
        "channels": cfg.supernet.channels,
        "seconds_per_step": {"mean": float(np.mean(step_times)),
                             "median": float(np.median(step_times)), "n": len(step_times)},
        "seconds_per_arch": {"mean": float(np.mean(arch_times)),
                             "median": float(np.median(arch_times)), "n": len(arch_times),
                             "eval_images": ev.n_images},
        "steps_per_epoch": len(images.train_y) // cfg.batch_size,
    }, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.oneshot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("train", help="train (or resume) a supernet and save checkpoints")
    _add_run_args(p)
    p.add_argument("--save-every", type=int, default=20,
                   help="checkpoint every N epochs, plus the last (default: %(default)s)")
    p.add_argument("--until-epoch", type=int, default=None,
                   help="stop early (the schedule still spans --epochs; resume later)")
    p.add_argument("--log-every", type=int, default=50, help="steps between progress lines")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("list", help="list trained runs and their checkpoints")
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("curve", help="Kendall tau / P@top-5%% at checkpoints of a run")
    _add_run_args(p)
    p.add_argument("--split", default="nb201-c10-1k")
    p.add_argument("--at", default=None, help="comma list of epochs (default: all saved)")
    p.add_argument("--metric", choices=("acc", "loss"), default="acc")
    p.add_argument("--iso-eval", choices=("self", "representative", "mean"), default="self")
    p.add_argument("--eval-batches", type=int, default=EvalConfig.n_batches)
    p.add_argument("--eval-batch-size", type=int, default=EvalConfig.batch_size)
    p.add_argument("--limit", type=int, default=None, help="score only the first N archs")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.set_defaults(fn=cmd_curve)

    p = sub.add_parser("bench", help="time training steps and architecture scoring")
    _add_run_args(p)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--archs", type=int, default=5)
    p.add_argument("--eval-batches", type=int, default=EvalConfig.n_batches)
    p.add_argument("--eval-batch-size", type=int, default=EvalConfig.batch_size)
    p.set_defaults(fn=cmd_bench)

    a = parser.parse_args(argv)
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
