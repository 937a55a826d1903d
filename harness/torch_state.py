"""Process-wide torch settings that estimator code must leave as it found them.

A change of the default dtype, the grad mode, the thread count or a determinism switch made by
one estimator (in a scoring call, or when its file is imported) would alter the scores of every
estimator computed after it in the same process, and the determinism check would then blame
the innocent one. The scoring loop (:func:`harness.run.scoring.score_cell`) and the registry's
import of submissions (:mod:`harness.registry`) both take :func:`snapshot` before estimator code
runs and compare after it; a change fails that estimator, and :func:`restore` puts the settings
back.
"""

from __future__ import annotations

from typing import Any

import torch


def snapshot() -> dict[str, Any]:
    """The settings, by name."""
    state = {
        "default dtype": torch.get_default_dtype(),
        "grad mode": torch.is_grad_enabled(),
        "threads": torch.get_num_threads(),
        "deterministic algorithms": torch.are_deterministic_algorithms_enabled(),
        "anomaly detection": torch.is_anomaly_enabled(),
    }
    if torch.backends.cudnn.is_available():
        state["cudnn benchmark"] = torch.backends.cudnn.benchmark
        state["cudnn deterministic"] = torch.backends.cudnn.deterministic
    return state


def changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    """``"default dtype torch.float32 -> torch.float64; ..."``, empty when nothing changed."""
    return "; ".join(f"{k} {before[k]} -> {after[k]}" for k in before if before[k] != after[k])


def restore(state: dict[str, Any]) -> None:
    """Put back what :func:`snapshot` recorded."""
    torch.set_default_dtype(state["default dtype"])
    torch.set_grad_enabled(state["grad mode"])
    torch.set_num_threads(state["threads"])
    torch.use_deterministic_algorithms(state["deterministic algorithms"])
    torch.autograd.set_detect_anomaly(state["anomaly detection"])
    if "cudnn benchmark" in state:
        torch.backends.cudnn.benchmark = state["cudnn benchmark"]
        torch.backends.cudnn.deterministic = state["cudnn deterministic"]
