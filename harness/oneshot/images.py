"""CIFAR-10 images for supernet training and one-shot scoring.

The 50,000 CIFAR-10 training images are permuted once with ``split_seed``; the first
``train_fraction`` (80 %) train the supernet, the rest are the validation images that one-shot
scores are computed on. The test images are never used.

Training batches: epoch ``e`` visits the training images in a permutation seeded with
``(seed, e)``; step ``t`` of the epoch takes the ``t``-th slice of ``batch_size`` images (the
incomplete last slice is dropped) and applies the standard augmentation -- random crop of
32x32 from the image zero-padded by 4 pixels, and a horizontal flip with probability 1/2 --
with offsets and flips drawn from a generator seeded with ``(seed, e, t)``. Every batch thus
depends only on ``(seed, epoch, step)``: a resumed run sees the same batches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from harness import data
from harness.oneshot.config import EvalConfig, TrainConfig

PAD = 4
_EPOCH_STREAM = 2
_AUGMENT_STREAM = 3
N_CIFAR10_TRAIN = 50000


@dataclass(frozen=True)
class SplitImages:
    """The train and validation images of a run (uint8 NHWC) with their labels."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    train_indices: np.ndarray
    val_indices: np.ndarray


def split_indices(n: int, train_fraction: float, split_seed: int,
                  subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation images among ``n`` (disjoint, fixed by seed)."""
    perm = np.random.Generator(np.random.PCG64(split_seed)).permutation(n)
    if subset is not None:
        perm = perm[: min(subset, n)]
    n_train = int(round(len(perm) * train_fraction))
    if n_train < 1 or n_train >= len(perm):
        raise ValueError(f"train_fraction {train_fraction} leaves an empty split of "
                         f"{len(perm)} images")
    return perm[:n_train], perm[n_train:]


@lru_cache(maxsize=2)
def _load(train_fraction: float, split_seed: int, subset: int | None,
          root: str) -> SplitImages:
    ds = data.cifar10_dataset("train", root)
    tr, va = split_indices(len(ds), train_fraction, split_seed, subset)
    if subset is None:
        images = ds.all_images()  # decoded once, cached on disk
        tx, vx = images[tr], images[va]
    else:
        tx, vx = ds.decode(tr), ds.decode(va)
    for a in (tx, vx):
        a.setflags(write=False)  # shared between callers in a process
    return SplitImages(tx, ds.labels[tr].copy(), vx, ds.labels[va].copy(), tr, va)


def load_split_images(cfg: TrainConfig, data_dir: str | os.PathLike | None = None) -> SplitImages:
    """The run's train/validation images (cached per process)."""
    root = str(data.resolve_data_dir(data_dir))
    return _load(cfg.train_fraction, cfg.split_seed, cfg.subset, root)


def steps_per_epoch(images: SplitImages, batch_size: int) -> int:
    """Full batches per epoch (the last incomplete one is dropped)."""
    return len(images.train_y) // batch_size


def augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random 32x32 crop of the 4-pixel zero-padded images and random horizontal flip."""
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (PAD, PAD), (PAD, PAD), (0, 0)))
    dy = rng.integers(0, 2 * PAD + 1, size=n)
    dx = rng.integers(0, 2 * PAD + 1, size=n)
    flip = rng.random(n) < 0.5
    rows = dy[:, None] + np.arange(h)[None, :]  # (n, h)
    cols = dx[:, None] + np.arange(w)[None, :]  # (n, w)
    cols = np.where(flip[:, None], cols[:, ::-1], cols)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def train_batch(images: SplitImages, cfg: TrainConfig, epoch: int,
                step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised, augmented training batch of ``(epoch, step)`` as CPU tensors."""
    perm = np.random.default_rng([cfg.seed, epoch, _EPOCH_STREAM]).permutation(
        len(images.train_y))
    # Sorted indices read memory in order; the order inside a batch does not matter.
    idx = np.sort(perm[step * cfg.batch_size:(step + 1) * cfg.batch_size])
    if len(idx) < cfg.batch_size:
        raise IndexError(f"step {step} is beyond the {steps_per_epoch(images, cfg.batch_size)} "
                         "full batches of an epoch")
    rng = np.random.default_rng([cfg.seed, epoch, step, _AUGMENT_STREAM])
    x = augment(images.train_x[idx], rng)
    return data.normalize(x), torch.from_numpy(images.train_y[idx].copy())


def validation_batches(images: SplitImages,
                       ecfg: EvalConfig) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed validation batches every architecture is scored on (normalised CPU tensors).

    Cut from a permutation of the validation images seeded with ``eval_seed``; if there are
    fewer validation images than requested, the batches cover what there is (the last one may
    be short) rather than repeating images.
    """
    n = len(images.val_y)
    perm = np.random.Generator(np.random.PCG64(ecfg.eval_seed)).permutation(n)
    out = []
    for b in range(ecfg.n_batches):
        idx = perm[b * ecfg.batch_size:(b + 1) * ecfg.batch_size]
        if len(idx) == 0:
            break
        out.append((data.normalize(images.val_x[idx]),
                    torch.from_numpy(images.val_y[idx].copy())))
    return out
