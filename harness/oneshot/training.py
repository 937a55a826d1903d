"""Supernet training: one sampled architecture per step, SGD, checkpoints, resume.

Every random choice of step ``t`` (global step, counted from 0 over all epochs) of a run with
seed ``s`` is drawn from a generator seeded with values derived from ``(s, t)`` (or the epoch):
the architecture (:meth:`harness.oneshot.sampling.Sampler.cell_at`), the batch and its
augmentation (:func:`harness.oneshot.images.train_batch`) and the dropout mask. The RNG state
of a run is therefore a function of its step counter, which the checkpoint stores; resuming
from epoch ``k`` continues bit for bit as if the run had never stopped (on the CPU; CUDA kernels
are deterministic only up to their own nondeterminism).

The learning rate follows the schedule per epoch (``cosine``: ``lr/2 * (1 + cos(pi e/E))`` for
epoch ``e`` of ``E``). Parameters of operations the step's architecture does not use get no
gradient, so SGD leaves them (and their momentum) untouched, as the paper's code does.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from harness.oneshot import checkpoints
from harness.oneshot.config import TrainConfig
from harness.oneshot.images import SplitImages, load_split_images, steps_per_epoch, train_batch
from harness.oneshot.models import build_model
from harness.oneshot.sampling import ArchSampler, make_sampler
from harness.run.environment import device_name

_DROPOUT_STREAM = 4
LogFn = Callable[[str], None]


def _stderr(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate during epoch ``epoch`` (0-based)."""
    if cfg.schedule == "constant":
        return cfg.lr
    return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * epoch / cfg.epochs))


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay)


def dropout_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """The generator of step ``step``'s dropout mask."""
    g = torch.Generator(device=device)
    # Fold (seed, step) into one 63-bit seed; collisions across steps are irrelevant here.
    g.manual_seed((seed * 1_000_003 + step * 7919 + _DROPOUT_STREAM) % (2**63 - 1))
    return g


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, cell: tuple[str, ...],
               x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
               generator: torch.Generator | None = None) -> tuple[float, float]:
    """One SGD step on architecture ``cell``; returns (loss, accuracy) of the batch."""
    model.train()
    optimizer.zero_grad(set_to_none=True)  # unused ops keep grad None: SGD skips them
    logits = model(x, cell, generator=generator)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    if cfg.max_grad_norm is not None:
        nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None],
                                 cfg.max_grad_norm)
    optimizer.step()
    acc = (logits.detach().argmax(1) == y).float().mean()
    return float(loss.detach()), float(acc)


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        config: the run's config.
        run_dir: where its checkpoints are.
        epoch: epochs completed.
        resumed_from: epoch of the checkpoint training resumed from (0 = from scratch).
        saved: checkpoint files written by this call.
        log: per-epoch records (``epoch``, ``lr``, ``loss``, ``acc``, ``seconds``).
        seconds_per_step: mean wall time per step of this call (``None`` if no step ran).
        stopped: ``stop`` ended the call mid-epoch (``step.pt`` holds where).
    """

    config: TrainConfig
    run_dir: Path
    epoch: int
    resumed_from: int
    saved: list[Path] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    seconds_per_step: float | None = None
    stopped: bool = False


def default_save_epochs(epochs: int, save_every: int | None) -> list[int]:
    """Multiples of ``save_every`` up to the budget, plus the final epoch."""
    out = set(range(save_every, epochs + 1, save_every)) if save_every else set()
    out.add(epochs)
    return sorted(out)


def training_cost(log: list[dict], epoch: int) -> dict:
    """What training to ``epoch`` cost, from a checkpoint's per-epoch log: wall seconds, and
    CPU seconds (wall x threads; epochs logged before threads were recorded count one thread,
    which is how this project's CPU runs are made)."""
    rows = [r for r in log if r.get("epoch", 0) <= epoch]
    wall = float(sum(r.get("seconds", 0.0) for r in rows))
    cpu = float(sum(r.get("seconds", 0.0) * (r.get("threads") or 1) for r in rows))
    devices = sorted({str(r.get("device", "?")) for r in rows})
    # This dict is part of every checkpoint's description, which names its stored curve
    # scores (harness.run.curves): a new key would orphan every stored point. Where each
    # epoch ran is in the log itself (``device_name``).
    return {"epochs": len(rows), "wall_s": wall, "cpu_s": cpu, "devices": devices}


UNRECORDED = "unrecorded"


def epoch_device(row: dict) -> str:
    """The device model one epoch of a checkpoint's log ran on (:data:`UNRECORDED` for epochs
    logged before the model was recorded)."""
    return str(row.get("device_name") or UNRECORDED)


def epochs_by_device(log: list[dict]) -> dict[str, int]:
    """How many epochs of a checkpoint's log ran on each device model."""
    out: dict[str, int] = {}
    for r in log:
        name = epoch_device(r)
        out[name] = out.get(name, 0) + 1
    return out


def load_model(cfg: TrainConfig, epoch: int, cache_dir: str | os.PathLike,
               device: torch.device | str = "cpu") -> nn.Module:
    """The supernet of run ``cfg`` after ``epoch`` epochs, on ``device``, in eval mode.

    Raises:
        FileNotFoundError: if the checkpoint does not exist.
    """
    path = checkpoints.checkpoint_path(cache_dir, cfg, epoch)
    if not path.is_file():
        raise FileNotFoundError(path)
    state = checkpoints.load_checkpoint(path)
    model = build_model(cfg, seed=None)
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def train(cfg: TrainConfig, *, cache_dir: str | os.PathLike, device: torch.device | str = "cpu",
          data_dir: str | os.PathLike | None = None, save_epochs: Iterable[int] | None = None,
          until_epoch: int | None = None, resume: bool = True, log: LogFn | None = _stderr,
          log_every: int = 50, images: SplitImages | None = None,
          sampler: ArchSampler | None = None, stop: Callable[[], bool] | None = None,
          step_every_s: float | None = None) -> TrainResult:
    """Train (or continue training) the supernet of ``cfg``.

    Args:
        cfg: the run (its hash names the checkpoint directory).
        cache_dir: the harness cache directory (checkpoints under ``oneshot/<hash>/``).
        device: where to train.
        data_dir: benchmark data directory (CIFAR-10 and the NB201 table).
        save_epochs: epochs after which to write a checkpoint (default: the final epoch).
            The epoch training stops at is always saved.
        until_epoch: stop after this epoch (default ``cfg.epochs``); the schedule still spans
            ``cfg.epochs``, so the run can be continued later.
        resume: continue from the latest checkpoint at or before ``until_epoch``, or from
            ``step.pt`` when it is further.
        log: progress messages (``None``: silent).
        log_every: steps between progress messages.
        images, sampler: preloaded data and sampler (tests); loaded from ``cfg`` otherwise.
        stop: asked before every step; when it answers true, training saves a step checkpoint
            (``step.pt``: model, optimiser, step and the epoch's running sums) and returns
            with ``result.stopped`` set. Resuming continues from it bit for bit.
        step_every_s: also save the step checkpoint every this many seconds, so that a kill
            loses at most that much training (``None``: only epoch checkpoints and stops).

    Raises:
        ValueError: ``until_epoch`` outside ``1..cfg.epochs``, or no full batch of images.
        FileNotFoundError: ``resume`` and the run's ``removed.json`` records an epoch past
            every checkpoint and ``step.pt`` here (the files that resume it are missing).
    """
    device = torch.device(device)
    until = cfg.epochs if until_epoch is None else until_epoch
    if not 1 <= until <= cfg.epochs:
        raise ValueError(f"until_epoch must be in 1..{cfg.epochs}, not {until}")
    save = {e for e in (save_epochs or ()) if 1 <= e <= until} | {until}
    say = log or (lambda _msg: None)
    images = images if images is not None else load_split_images(cfg, data_dir)
    sampler = sampler if sampler is not None else make_sampler(cfg.sampler, data_dir,
                                                               cfg.space)
    n_steps = steps_per_epoch(images, cfg.batch_size)
    if n_steps < 1:
        raise ValueError(f"{len(images.train_y)} training images make no full batch of "
                         f"{cfg.batch_size}")
    checkpoints.write_config(cache_dir, cfg)
    rdir = checkpoints.run_dir(cache_dir, cfg)

    model = build_model(cfg, seed=cfg.seed).to(device)
    optimizer = make_optimizer(model, cfg)
    start, history = 0, []
    done = [e for e in checkpoints.available_epochs(cache_dir, cfg) if e <= until] if resume else []
    if done:
        start = done[-1]
        state = checkpoints.load_checkpoint(checkpoints.checkpoint_path(cache_dir, cfg, start))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = list(state.get("log", []))
        say(f"[oneshot {cfg.config_hash()}] resumed from epoch {start}")
    step_path = checkpoints.step_checkpoint_path(cache_dir, cfg)
    partial = _load_step_checkpoint(step_path, start, until, n_steps) if resume else None
    first_step, carried = 0, (0.0, 0.0, 0.0)
    if partial is not None:
        model.load_state_dict(partial["model"])
        optimizer.load_state_dict(partial["optimizer"])
        history = list(partial.get("log", []))
        start, first_step = partial["epoch"], partial["step"]
        carried = (partial["loss_sum"], partial["acc_sum"], partial["seconds"])
        say(f"[oneshot {cfg.config_hash()}] resumed from epoch {start} step {first_step}")
    elif resume:
        # A removed epoch checkpoint past every file here means the run got further than the
        # files show (its step.pt or latest checkpoint was not restored): training again from
        # ``start`` would silently spend the CPU-hours a second time. (Regenerating a removed
        # checkpoint that a later file supersedes is a deliberate, deterministic retrain.)
        furthest = max([start, *checkpoints.available_epochs(cache_dir, cfg),
                        checkpoints.step_progress(cache_dir, cfg) or 0])
        lost = [e for e in checkpoints.removed_checkpoints(cache_dir, cfg) if e > furthest]
        if lost and start < until:
            raise FileNotFoundError(
                f"run {cfg.config_hash()} reached epoch {max(lost)} ({rdir}/"
                f"{checkpoints.REMOVED_FILE}) but neither a checkpoint of that epoch or later "
                f"nor a step.pt past it is in {rdir}; restore the run's files (git checkout, "
                f"or the machine that trained it) rather than training again from epoch "
                f"{start}")
    result = TrainResult(cfg, rdir, start, start, log=history)
    t_total, steps_run = 0.0, 0
    last_step_save = time.perf_counter()
    # The device's model is logged with every epoch: a run resumed on a machine of another kind
    # is no longer bit for bit the run of either machine, and its log says where each ran.
    ran_on = device_name(str(device))
    for epoch in range(start, until):
        lr = lr_at(cfg, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        loss_sum = acc_sum = 0.0
        begin, earlier_s = 0, 0.0
        if epoch == start and first_step:
            begin = first_step
            loss_sum, acc_sum, earlier_s = carried
        for step in range(begin, n_steps):
            halt = stop is not None and stop()
            if halt or (step_every_s and time.perf_counter() - last_step_save >= step_every_s):
                _save_step(step_path, cfg, model, optimizer, history, epoch, step, n_steps,
                           loss_sum, acc_sum, earlier_s + time.perf_counter() - t0)
                last_step_save = time.perf_counter()
            if halt:
                result.stopped = True
                result.saved.append(step_path)
                say(f"[oneshot {cfg.config_hash()}] stopped at epoch {epoch} step {step}; "
                    f"saved {step_path}")
                result.log = history
                spent = t_total + time.perf_counter() - t0  # the stopped epoch's steps too
                result.seconds_per_step = spent / steps_run if steps_run else None
                return result
            gstep = epoch * n_steps + step
            cell = sampler.cell_at(cfg.seed, gstep)
            x, y = train_batch(images, cfg, epoch, step)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            gen = dropout_generator(cfg.seed, gstep, device)
            loss, acc = train_step(model, optimizer, cell, x, y, cfg, gen)
            loss_sum += loss
            acc_sum += acc
            steps_run += 1
            if log and log_every and (step + 1) % log_every == 0:
                rate = (time.perf_counter() - t0) / (step + 1)
                say(f"[oneshot {cfg.config_hash()}] epoch {epoch + 1}/{cfg.epochs} step "
                    f"{step + 1}/{n_steps} loss {loss_sum / (step + 1):.4f} "
                    f"acc {acc_sum / (step + 1):.4f} ({rate:.2f} s/step)")
        t_total += time.perf_counter() - t0
        seconds = earlier_s + time.perf_counter() - t0
        record = {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / n_steps,
                  "acc": acc_sum / n_steps, "seconds": seconds, "device": device.type,
                  "device_name": ran_on, "threads": torch.get_num_threads()}
        history.append(record)
        say(f"[oneshot {cfg.config_hash()}] epoch {epoch + 1}/{cfg.epochs} done: loss "
            f"{record['loss']:.4f} acc {record['acc']:.4f} lr {lr:.5f} {seconds:.0f} s")
        if epoch + 1 in save:
            path = checkpoints.checkpoint_path(cache_dir, cfg, epoch + 1)
            checkpoints.save_checkpoint(path, {
                "format": cfg.identity()["format"],
                "config": cfg.to_dict(),
                "config_hash": cfg.config_hash(),
                "epoch": epoch + 1,
                "global_step": (epoch + 1) * n_steps,
                "steps_per_epoch": n_steps,
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": _cpu_state(optimizer.state_dict()),
                "rng": {"scheme": "stateless: every draw of step t derives from (seed, t)",
                        "seed": cfg.seed, "next_global_step": (epoch + 1) * n_steps},
                "log": history,
            })
            result.saved.append(path)
            if step_path.exists():  # superseded: an epoch checkpoint past it exists now
                step_path.unlink()
        result.epoch = epoch + 1
    result.log = history
    result.seconds_per_step = t_total / steps_run if steps_run else None
    return result


def _save_step(path: Path, cfg: TrainConfig, model: nn.Module, optimizer, history: list,
               epoch: int, step: int, n_steps: int, loss_sum: float, acc_sum: float,
               seconds: float) -> None:
    """Save the state before step ``step`` of (0-based) ``epoch``, with the epoch's running
    sums, so that the epoch can be finished later exactly as if it had not stopped."""
    checkpoints.save_checkpoint(path, {
        "format": cfg.identity()["format"], "config_hash": cfg.config_hash(),
        "epoch": epoch, "step": step, "global_step": epoch * n_steps + step,
        "steps_per_epoch": n_steps, "loss_sum": loss_sum, "acc_sum": acc_sum,
        "seconds": seconds,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": _cpu_state(optimizer.state_dict()), "log": history,
    })


def _load_step_checkpoint(path: Path, start: int, until: int, n_steps: int) -> dict | None:
    """The step checkpoint at ``path`` when it is ahead of epoch ``start`` and within
    ``until`` (otherwise the epoch checkpoints are the resume point)."""
    if not path.is_file():
        return None
    state = checkpoints.load_checkpoint(path)
    if state.get("steps_per_epoch") != n_steps:
        return None
    ahead = state["global_step"] > start * n_steps
    return state if ahead and state["epoch"] < until else None


def _cpu_state(obj):
    """A copy of an optimiser state dict with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu_state(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cpu_state(v) for v in obj]
    return obj
