"""Numbers behind the plots: per-seed score matrices, rank transforms, top-K curves.

The metrics themselves come from :mod:`harness.metrics`, so a curve's point at K = 5 % equals
the results file's ``p_top_5`` / ``br_5`` for the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats

from harness import metrics
from harness.results import read_scores

#: K (percent of the split) at which the P@topK / BR@K curves are evaluated.
CURVE_PERCENTS: tuple[float, ...] = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50)


def seed_scores(path: Path, arch_ids: Sequence[int], seeds: Sequence[int]) -> np.ndarray:
    """Scores as a ``(len(seeds), len(arch_ids))`` array in split order (NaN = failed).

    Raises:
        ValueError: if the scores file does not cover exactly the split's architectures and
            the given seeds.
    """
    pos = {a: i for i, a in enumerate(arch_ids)}
    row_of = {s: i for i, s in enumerate(seeds)}
    out = np.full((len(seeds), len(arch_ids)), np.nan)
    seen = np.zeros(out.shape, dtype=bool)
    for arch_id, seed, score in read_scores(path):
        if arch_id not in pos or seed not in row_of:
            raise ValueError(f"scores file has arch {arch_id} / seed {seed}, which the split "
                             "or the results file does not list")
        i, j = row_of[seed], pos[arch_id]
        seen[i, j] = True
        if score is not None:
            out[i, j] = score
    if not seen.all():
        raise ValueError(f"scores file lacks {int((~seen).sum())} (arch, seed) pairs")
    return out


def floor_failures(scores: np.ndarray) -> np.ndarray:
    """Failed (NaN) scores replaced by one value below every finite score (the harness rule)."""
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        return np.zeros_like(scores)
    lo, hi = finite.min(), finite.max()
    return np.where(np.isfinite(scores), scores, lo - (hi - lo) - 1.0)


def rank01(values: np.ndarray) -> np.ndarray:
    """Average ranks scaled to (0, 1]: 1 is the highest value."""
    return stats.rankdata(values, method="average") / len(values)


def mean_score_rank(matrix: np.ndarray) -> np.ndarray:
    """Each architecture's score rank (0..1, 1 = predicted best), averaged over seeds."""
    return np.mean([rank01(floor_failures(row)) for row in matrix], axis=0)


def topk_curves(matrix: np.ndarray, truth: np.ndarray,
                percents: Sequence[float] = CURVE_PERCENTS) -> dict[str, np.ndarray]:
    """P@topK and BR@K for every seed and K (NaN where K < 1 architecture).

    Returns:
        ``{"percent": (P,), "p_top": (seeds, P), "br": (seeds, P),
        "p_top_random": (P,), "br_random": (P,)}``; the ``*_random`` entries are the
        expectations for a uniformly random ranking (k/N and (N+1)/((k+1)·N)).
    """
    n = len(truth)
    p_top = np.full((len(matrix), len(percents)), np.nan)
    br = np.full_like(p_top, np.nan)
    for i, row in enumerate(matrix):
        s = floor_failures(row)
        for j, p in enumerate(percents):
            v = metrics.precision_at_top(s, truth, p)
            b = metrics.best_rank_at(s, truth, p)
            p_top[i, j] = np.nan if v is None else v
            br[i, j] = np.nan if b is None else b
    ks = np.array([metrics.k_of(p, n) for p in percents], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_rand = np.where(ks >= 1, ks / n, np.nan)
        br_rand = np.where(ks >= 1, (n + 1) / ((ks + 1) * n), np.nan)
    return {"percent": np.asarray(percents, dtype=float), "p_top": p_top, "br": br,
            "p_top_random": p_rand, "br_random": br_rand}
