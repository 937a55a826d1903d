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
from pathlib import Path

import numpy as np
import torch

from harness import data
from harness.oneshot import checkpoints
from harness.oneshot.config import EvalConfig, SupernetConfig, TrainConfig, cli_fields


def _add_run_args(p: argparse.ArgumentParser) -> None:
    # The training-run options are declared on the config fields (defaults, types, help).
    for cls in (TrainConfig, SupernetConfig):
        for name, default, cli in cli_fields(cls):
            shown = " (default: %(default)s)" if default is not None else ""
            p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=cli.type,
                           default=default, choices=cli.choices, help=cli.help + shown)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--data-dir", default=None, help="default: $ESTBENCH_DATA")
    p.add_argument("--cache-dir", default=None,
                   help="default: $ESTBENCH_CACHE or ~/.cache/estbench (checkpoints go to "
                        "<cache-dir>/oneshot/<hash>/)")


def _config(a: argparse.Namespace) -> TrainConfig:
    net = SupernetConfig(**{name: getattr(a, name) for name, _d, _c in cli_fields(SupernetConfig)})
    return TrainConfig(**{name: getattr(a, name) for name, _d, _c in cli_fields(TrainConfig)},
                       supernet=net)


def _setup(a: argparse.Namespace) -> tuple[str, str]:
    if a.threads:
        torch.set_num_threads(a.threads)
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cache = a.cache_dir or str(data.default_cache_dir())
    return device, cache


def cmd_train(a: argparse.Namespace) -> int:
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness.oneshot.training import default_save_epochs, train

    device, cache = _setup(a)
    cfg = _config(a)
    saves = default_save_epochs(cfg.epochs, a.save_every)
    print(f"run {cfg.config_hash()} -> {checkpoints.run_dir(cache, cfg)}", file=sys.stderr)
    res = train(cfg, cache_dir=cache, device=device, data_dir=a.data_dir, save_epochs=saves,
                until_epoch=a.until_epoch, log_every=a.log_every,
                step_every_s=a.step_every or None)
    print(json.dumps({"config_hash": cfg.config_hash(), "run_dir": str(res.run_dir),
                      "epoch": res.epoch, "resumed_from": res.resumed_from,
                      "saved": [str(p) for p in res.saved],
                      "seconds_per_step": res.seconds_per_step}, indent=1))
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness.oneshot.training import epochs_by_device

    cache = a.cache_dir or str(data.default_cache_dir())
    for run in checkpoints.list_runs(cache):
        c = run.config
        where = ""
        if run.epochs:  # where the latest checkpoint's epochs ran (a run may change machines)
            log = checkpoints.load_checkpoint(
                checkpoints.checkpoint_path(cache, c, run.epochs[-1])).get("log", [])
            where = " trained_on=" + ",".join(f"{name!r}:{n}" for name, n
                                              in epochs_by_device(log).items())
        progress = checkpoints.step_progress(cache, c)  # a stopped run may have only step.pt
        step = f" step.pt={progress:.3f}" if progress is not None else ""
        print(f"{run.config_hash}  sampler={c.sampler} sharing={c.sharing} seed={c.seed} "
              f"budget={c.epochs} channels={c.supernet.channels} subset={c.subset} "
              f"checkpoints={list(run.epochs)}{step}{where}")
    return 0


def cmd_curve(a: argparse.Namespace) -> int:
    """The training curve of a run, through the harness runner (``RunConfig.curve``): the
    split is scored with the run's last checkpoint at or below ``--at``'s largest epoch, and
    with every earlier saved checkpoint; the result is a normal results file."""
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness import registry
    from harness.run import RunConfig, run
    from harness.run.frontend import default_results_dir

    device, cache = _setup(a)
    cfg = _config(a)
    have = checkpoints.available_epochs(cache, cfg)
    at = max(int(e) for e in a.at.split(",")) if a.at else (have[-1] if have else None)
    if at is None or at not in have:
        print(f"no checkpoint {at} for run {cfg.config_hash()} (have {have})", file=sys.stderr)
        return 1
    name = {("uniform", "acc"): "oneshot_uniform", ("deiso", "acc"): "oneshot_deiso",
            ("deiso", "loss"): "oneshot_deiso_loss"}.get((cfg.sampler, a.metric))
    if name is None:
        print(f"no estimator scores the {a.metric} of a {cfg.sampler} supernet", file=sys.stderr)
        return 2
    options = {"epochs": cfg.epochs, "checkpoint_epoch": at, "sharing": cfg.sharing,
               "batch_size": cfg.batch_size, "channels": cfg.supernet.channels,
               "cells_per_stage": cfg.supernet.cells_per_stage, "train": "no",
               "memory_format": cfg.supernet.memory_format,
               "eval_batches": a.eval_batches, "eval_batch_size": a.eval_batch_size}
    if cfg.subset is not None:
        options["subset"] = cfg.subset
    if a.iso_eval:
        options["iso_eval"] = a.iso_eval
    rcfg = RunConfig(seeds=(cfg.seed,), device=device, data_dir=a.data_dir,
                     results_dir=Path(a.results_dir) if a.results_dir else default_results_dir(),
                     cache_dir=Path(cache), options=options, curve=True,
                     threads=a.threads or 1)
    res = run([registry.get(name)], a.split, rcfg)[name]
    text = json.dumps({"estimator": name, "split": a.split, "config_hash": cfg.config_hash(),
                       "curve": [p.__dict__ for p in res.curve.points] if res.curve else []},
                      indent=1)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    """Seconds per training step and per architecture scored, on random architectures."""
    # lazy: each subcommand loads only its own stack (torch and the estimators take seconds)
    from harness.oneshot.images import load_split_images, train_batch, validation_batches
    from harness.oneshot.models import build_model
    from harness.oneshot.sampling import make_sampler
    from harness.oneshot.scoring import OneShotEvaluator
    from harness.oneshot.training import dropout_generator, make_optimizer, train_step

    device, _cache = _setup(a)
    cfg = _config(a)
    images = load_split_images(cfg, a.data_dir)
    sampler = make_sampler(cfg.sampler, a.data_dir, cfg.space)
    model = build_model(cfg, seed=cfg.seed).to(device)
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
    arch_times = []
    for i in range(a.archs):  # architectures the run's sampler draws, but not its first ones
        t0 = time.perf_counter()
        ev.evaluate(sampler.cell_at(cfg.seed + 1, i))
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
    p.add_argument("--step-every", type=float, default=600.0, metavar="SECONDS",
                   help="also save the mid-epoch step checkpoint (step.pt) this often, so that "
                        "a kill loses at most that much training; 0: only at epoch ends "
                        "(default: %(default)s)")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("list", help="list trained runs and their checkpoints")
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("curve", help="Kendall tau / P@top-5%% at checkpoints of a run")
    _add_run_args(p)
    p.add_argument("--split", default="nb201-c10-1k")
    p.add_argument("--at", default=None, help="comma list of epochs (default: all saved)")
    p.add_argument("--metric", choices=("acc", "loss"), default="acc")
    p.add_argument("--iso-eval", choices=("self", "representative", "mean"), default=None,
                   help="default: representative for deiso, self for uniform")
    p.add_argument("--eval-batches", type=int, default=EvalConfig.n_batches)
    p.add_argument("--eval-batch-size", type=int, default=EvalConfig.batch_size)
    p.add_argument("--results-dir", default=None,
                   help="where the results file goes (default: the user results directory)")
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
