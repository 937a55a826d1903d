"""Where supernet checkpoints live, and how they are written and read.

Layout::

    <cache_dir>/oneshot/<config_hash>/config.json     the run's TrainConfig (for discovery)
    <cache_dir>/oneshot/<config_hash>/epoch_<k>.pt    state after k epochs
    <cache_dir>/oneshot/<config_hash>/step.pt         state of a run stopped mid-epoch (a
                                                      campaign's budget, a signal, or saved
                                                      every few minutes); removed once a
                                                      later epoch checkpoint exists
    <cache_dir>/oneshot/<config_hash>/removed.json    epoch checkpoints deleted after their
                                                      curve points were scored: size, SHA-256
                                                      and why (:func:`remove_checkpoint`)

``cache_dir`` is the harness's cache directory (``$ESTBENCH_CACHE``, else
``~/.cache/estbench``). A checkpoint holds the model and optimiser state dicts, the epoch and
global step, the config, the per-epoch training log and a description of the RNG streams
(all derived from ``(seed, step)``, see :mod:`harness.oneshot.training`). Files are written
atomically (temporary file + ``os.replace``): a reader never sees a half-written checkpoint
and a killed run leaves the previous ones intact.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.data import atomic_write_bytes
from harness.oneshot.config import TrainConfig

SUBDIR = "oneshot"
REMOVED_FILE = "removed.json"
_EPOCH_RE = re.compile(r"^epoch_(\d+)\.pt$")


def run_dir(cache_dir: str | os.PathLike, cfg: TrainConfig) -> Path:
    """``<cache_dir>/oneshot/<hash>``: the directory of a training run."""
    return Path(cache_dir) / SUBDIR / cfg.config_hash()


def checkpoint_path(cache_dir: str | os.PathLike, cfg: TrainConfig, epoch: int) -> Path:
    """``<cache_dir>/oneshot/<hash>/epoch_<epoch>.pt``."""
    return run_dir(cache_dir, cfg) / f"epoch_{epoch}.pt"


def step_checkpoint_path(cache_dir: str | os.PathLike, cfg: TrainConfig) -> Path:
    """``<cache_dir>/oneshot/<hash>/step.pt``: where a run stopped mid-epoch is saved."""
    return run_dir(cache_dir, cfg) / "step.pt"


def step_progress(cache_dir: str | os.PathLike, cfg: TrainConfig) -> float | None:
    """Epochs trained as ``step.pt`` of ``cfg`` records them (e.g. 39.25), or ``None``
    without one."""
    path = step_checkpoint_path(cache_dir, cfg)
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    return state["global_step"] / state["steps_per_epoch"]


def available_epochs(cache_dir: str | os.PathLike, cfg: TrainConfig) -> list[int]:
    """Epochs with a checkpoint for ``cfg``, ascending."""
    d = run_dir(cache_dir, cfg)
    if not d.is_dir():
        return []
    found = (_EPOCH_RE.match(p.name) for p in d.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def removed_checkpoints(cache_dir: str | os.PathLike, cfg: TrainConfig) -> dict[int, dict]:
    """Epoch checkpoints of ``cfg`` that were deleted on purpose, by epoch: what each file was
    (``bytes``, ``sha256``), when and why it was removed. An unreadable manifest reads as
    empty (nothing is then claimed about removed epochs)."""
    path = run_dir(cache_dir, cfg) / REMOVED_FILE
    try:
        obj = json.loads(path.read_text())
        return {int(k): dict(v) for k, v in obj["removed"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def reached_epochs(cache_dir: str | os.PathLike, cfg: TrainConfig) -> list[int]:
    """Epochs that training of ``cfg`` has saved: checkpoints on disk and removed ones."""
    return sorted(set(available_epochs(cache_dir, cfg)) | set(removed_checkpoints(cache_dir,
                                                                                    cfg)))


def remove_checkpoint(cache_dir: str | os.PathLike, cfg: TrainConfig, epoch: int,
                      reason: str) -> dict:
    """Delete checkpoint ``epoch`` of ``cfg`` and record it in ``removed.json`` first.

    The record (file size, SHA-256, UTC time, ``reason``) is written before the file goes,
    so a kill in between leaves a recorded checkpoint that still exists (harmless), never an
    unrecorded gap.

    Returns:
        The record.

    Raises:
        FileNotFoundError: no such checkpoint.
    """
    path = checkpoint_path(cache_dir, cfg, epoch)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    record = {"bytes": path.stat().st_size, "sha256": digest.hexdigest(),
              "removed_utc": datetime.datetime.now(datetime.timezone.utc)
              .strftime("%Y-%m-%dT%H:%M:%SZ"), "reason": reason}
    removed = removed_checkpoints(cache_dir, cfg)
    removed[int(epoch)] = record
    text = json.dumps({"config_hash": cfg.config_hash(),
                       "removed": {str(k): removed[k] for k in sorted(removed)}},
                      indent=1, sort_keys=True) + "\n"
    atomic_write_bytes(run_dir(cache_dir, cfg) / REMOVED_FILE,
                       lambda fh: fh.write(text.encode()))
    path.unlink()
    return record


def write_config(cache_dir: str | os.PathLike, cfg: TrainConfig) -> Path:
    """Write ``config.json`` of the run (idempotent)."""
    path = run_dir(cache_dir, cfg) / "config.json"
    text = json.dumps({"config_hash": cfg.config_hash(), **cfg.identity()}, indent=1,
                      sort_keys=True) + "\n"
    if not path.is_file() or path.read_text() != text:
        atomic_write_bytes(path, lambda fh: fh.write(text.encode()))
    return path


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Atomically write ``payload`` with :func:`torch.save`."""
    buf = io.BytesIO()
    torch.save(payload, buf)  # serialise first: a failure leaves no temporary file behind
    atomic_write_bytes(path, lambda fh: fh.write(buf.getbuffer()))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU (tensors and plain Python values only)."""
    return torch.load(path, map_location="cpu", weights_only=True)


@dataclass(frozen=True)
class RunInfo:
    """A training run found in the cache."""

    config_hash: str
    config: TrainConfig
    epochs: tuple[int, ...]
    path: Path


def list_runs(cache_dir: str | os.PathLike) -> list[RunInfo]:
    """Every run under ``<cache_dir>/oneshot`` with a readable ``config.json``."""
    root = Path(cache_dir) / SUBDIR
    runs = []
    if not root.is_dir():
        return runs
    for d in sorted(root.iterdir()):
        try:
            obj = json.loads((d / "config.json").read_text())
            cfg = TrainConfig.from_dict(obj["config"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # another format version, or a run being created
        if cfg.config_hash() != d.name:
            continue
        eps = tuple(available_epochs(cache_dir, cfg))
        runs.append(RunInfo(d.name, cfg, eps, d))
    return runs
