"""The paper's bias and variance analysis, as numbers.

* **Complexity bias**: Kendall τ of the score with #params and with FLOPs, and the estimator's τ
  with the ground truth inside each parameter-count quintile (an estimator that only tracks
  size ranks well overall but near zero inside a quintile).
* **Operation bias**: for each operation type, Kendall τ between the number of edges carrying
  it and the score, next to the same τ for the ground truth. A large gap means the estimator
  prefers or avoids that operation more than accuracy justifies.
* **Seed variance**: std of Kendall τ across seeds, and Kendall τ between the scores of each
  pair of seeds (rank stability).
"""

from __future__ import annotations

import itertools

import numpy as np

from harness.metrics import kendall_tau


def _tau(a, b) -> float | None:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    return kendall_tau(a, b)


def complexity_bias(score: np.ndarray, truth: np.ndarray, params: np.ndarray,
                    flops: np.ndarray) -> dict:
    """τ(score, params), τ(score, flops), and τ(score, truth) per parameter-count quintile."""
    edges = np.quantile(params, [0.2, 0.4, 0.6, 0.8])
    bins = np.searchsorted(edges, params, side="right")  # 0..4
    quintiles = []
    for q in range(5):
        m = bins == q
        quintiles.append({
            "quintile": q + 1,
            "n": int(m.sum()),
            "params_range": [float(params[m].min()), float(params[m].max())] if m.any() else None,
            "kendall": _tau(score[m], truth[m]) if m.sum() >= 2 else None,
        })
    return {
        "kendall_with_params": _tau(score, params),
        "kendall_with_flops": _tau(score, flops),
        "truth_kendall_with_params": _tau(truth, params),
        "kendall_within_param_quintiles": quintiles,
    }


def operation_bias(score: np.ndarray, truth: np.ndarray, counts: dict[str, np.ndarray]) -> dict:
    """For each op: τ(count, score) and τ(count, truth), and their difference."""
    out = {}
    for op, c in sorted(counts.items()):
        ts, tt = _tau(c, score), _tau(c, truth)
        out[op] = {
            "kendall_count_vs_score": ts,
            "kendall_count_vs_truth": tt,
            "gap": None if ts is None or tt is None else ts - tt,
        }
    return out


def seed_variance(per_seed_scores: dict[int, np.ndarray], per_seed_tau: dict[int, float | None]
                  ) -> dict:
    """Std of τ across seeds and τ between each pair of seeds' scores."""
    taus = [t for t in per_seed_tau.values() if t is not None]
    pairs = {}
    for a, b in itertools.combinations(sorted(per_seed_scores), 2):
        pairs[f"{a}-{b}"] = _tau(per_seed_scores[a], per_seed_scores[b])
    vals = [v for v in pairs.values() if v is not None]
    return {
        "n_seeds": len(per_seed_scores),
        "kendall_std_across_seeds": float(np.std(taus, ddof=1)) if len(taus) >= 2 else None,
        "kendall_between_seeds": pairs,
        "kendall_between_seeds_mean": float(np.mean(vals)) if vals else None,
    }
