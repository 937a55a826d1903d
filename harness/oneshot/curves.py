"""Training curves as data: ranking quality of a one-shot estimator at several checkpoints.

This is harness-side code: it reads the split's ground truth (after scoring every checkpoint),
which estimators never may. The returned dictionary is JSON-ready, for a results file::

    {"split": "nb201-c10-1k", "config_hash": "...", "metric": "acc", "iso_eval": "self",
     "epochs": [40, 80, ...], "kendall": [...], "spearman": [...], "p_top_5": [...],
     "seconds": [...]}
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from harness import metrics
from harness.oneshot.config import EvalConfig, TrainConfig
from harness.oneshot.images import load_split_images
from harness.oneshot.scoring import evaluator_for
from harness.spaces import nb201
from harness.splits import load_split


def score_split(cfg: TrainConfig, epoch: int, split_name: str, *, cache_dir: str | os.PathLike,
                metric: str = "acc", iso_eval: str = "self", ecfg: EvalConfig | None = None,
                device: torch.device | str = "cpu", data_dir: str | os.PathLike | None = None,
                limit: int | None = None,
                log: Callable[[str], None] | None = None) -> np.ndarray:
    """One-shot scores of the split's architectures (split order) at checkpoint ``epoch``.

    ``limit`` scores only the first ``limit`` architectures (quick experiments); ``log``
    receives a progress line every 100 architectures.
    """
    ecfg = ecfg or EvalConfig()
    split = load_split(split_name)
    if split.benchmark != "nb201" or split.dataset != "cifar10":
        raise ValueError(f"{split_name} is not a NAS-Bench-201 CIFAR-10 split")
    specs = split.specs(data_dir)[:limit]
    ev = evaluator_for(cfg, epoch, cache_dir=cache_dir, ecfg=ecfg, device=device,
                       data_dir=data_dir, images=load_split_images(cfg, data_dir))
    out = []
    t0 = time.perf_counter()
    for i, spec in enumerate(specs, start=1):
        out.append(ev.score(nb201.parse(spec), metric, iso_eval))
        if log and i % 100 == 0:
            log(f"epoch {epoch}: {i}/{len(specs)} architectures, "
                f"{(time.perf_counter() - t0) / i:.2f} s each")
    return np.array(out)


def training_curve(cfg: TrainConfig, epochs: Sequence[int], split_name: str, *,
                   cache_dir: str | os.PathLike, metric: str = "acc", iso_eval: str = "self",
                   ecfg: EvalConfig | None = None, device: torch.device | str = "cpu",
                   data_dir: str | os.PathLike | None = None, limit: int | None = None,
                   log: Callable[[str], None] | None = None) -> dict:
    """Kendall tau, Spearman rho and P@top-5 % of the one-shot scores at each checkpoint.

    Args:
        cfg: the training run; ``epochs`` are its checkpoints (they must exist).
        epochs: checkpoint epochs, in the order to report them.
        split_name: e.g. ``"nb201-c10-1k"``.
        cache_dir: the harness cache directory holding the checkpoints.
        metric: ``"acc"`` or ``"loss"`` (negative loss as score).
        iso_eval: ``self`` / ``representative`` / ``mean`` (see :mod:`harness.oneshot.scoring`).
        ecfg: validation batches.
        device, data_dir: as elsewhere.
        limit: score only the first ``limit`` architectures of the split.
        log: progress messages.

    Returns:
        ``{"epochs", "kendall", "spearman", "p_top_5", "seconds", ...}`` (lists aligned with
        ``epochs``; a metric that is undefined is ``None``).
    """
    ecfg = ecfg or EvalConfig()
    all_scores, seconds = [], []
    for e in epochs:
        t0 = time.perf_counter()
        all_scores.append(score_split(cfg, e, split_name, cache_dir=cache_dir, metric=metric,
                                      iso_eval=iso_eval, ecfg=ecfg, device=device,
                                      data_dir=data_dir, limit=limit, log=log))
        seconds.append(time.perf_counter() - t0)
    split = load_split(split_name)
    truth = split.ground_truth(data_dir)[:limit]  # only now, after every score is computed
    return {
        "split": split_name,
        "split_sha256": split.sha256,
        "n_archs": int(len(truth)),
        "config_hash": cfg.config_hash(),
        "config": cfg.to_dict(),
        "metric": metric,
        "iso_eval": iso_eval,
        "eval": {"n_batches": ecfg.n_batches, "batch_size": ecfg.batch_size,
                 "eval_seed": ecfg.eval_seed},
        "epochs": [int(e) for e in epochs],
        "kendall": [metrics.kendall_tau(s, truth) for s in all_scores],
        "spearman": [metrics.spearman_rho(s, truth) for s in all_scores],
        "p_top_5": [metrics.precision_at_top(s, truth, 5) for s in all_scores],
        "seconds": seconds,
    }
