"""Ranking metrics: how well estimator scores order architectures by their true accuracy.

All functions are pure, take ``scores`` (higher = predicted better) and ``truth`` (higher = truly
better) of equal length, and keep the sign of correlations (a negatively correlated estimator
reports a negative τ).

Conventions (documented in ``docs/metrics.md``):

* **K** for a percentage ``p`` of a split of ``N`` architectures is ``k = floor(p/100 · N)``.
  When ``k < 1`` the metric is undefined and reported as ``None`` (never silently 1).
* **Ties** in scores or in truth are resolved by expectation over uniformly random
  tie-breaking: an architecture tied at the top-K boundary belongs to the top-K with the
  probability that a random tie-break puts it there. P@K, BR@K and WR@K are exact expected
  values under that rule, so an estimator that gives many architectures the same score (e.g.
  ``params``) is neither rewarded nor punished by the order of the split file.
* **True rank** ``r`` is 1 for the best architecture and ``N`` for the worst (ties: average).
  BR@K = E[min r over predicted top-K] / N, WR@K = E[max r] / N; lower is better for both.
* **nDCG@K**, two gains, both with discount ``1/log2(1 + position)``, normalised by the DCG of
  the true order; tied scores share the mean gain of their tie group (the expected DCG under
  random tie-breaking):

  - ``ndcg_exp_K``: exponential gain ``2^acc − 1`` (accuracy in %), the information-retrieval
    form of the VKDNW paper's nDCG; each accuracy point doubles the gain, so the metric asks
    whether the predicted top holds the *best* architectures;
  - ``ndcg_K``: linear gain (the accuracy itself), what VKDNW's released analysis code computes
    with scikit-learn's ``ndcg_score``; compressed towards 1 (a random ranking scores ~0.99).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats
from scipy.special import gammaln

PRECISION_PERCENTS: tuple[float, ...] = (0.1, 0.5, 1, 5, 10, 50)
BR_PERCENTS: tuple[float, ...] = (0.1, 0.5, 1, 5, 10, 20)
#: nDCG@K: the P@K percentages, plus the whole split (VKDNW's nDCG uses most of the list).
NDCG_PERCENTS: tuple[float, ...] = PRECISION_PERCENTS + (100,)


def _pair(scores: Sequence[float], truth: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if s.shape != t.shape or s.ndim != 1:
        raise ValueError(f"scores and truth must be 1-D of equal length: {s.shape} vs {t.shape}")
    if not (np.isfinite(s).all() and np.isfinite(t).all()):
        raise ValueError("metrics need finite scores and truth; filter non-finite values first")
    return s, t


def _nan_to_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def pearson(scores, truth) -> float | None:
    """Pearson linear correlation (``None`` when either input is constant)."""
    s, t = _pair(scores, truth)
    if len(s) < 2 or _constant(s) or _constant(t):
        return None
    return _nan_to_none(stats.pearsonr(s, t)[0])


def _constant(a: np.ndarray) -> bool:
    return bool(np.all(a == a[0]))


def kendall_tau(scores, truth) -> float | None:
    """Kendall τ-b (ties counted as in scipy's default); ``None`` when undefined."""
    s, t = _pair(scores, truth)
    if len(s) < 2 or _constant(s) or _constant(t):
        return None
    return _nan_to_none(stats.kendalltau(s, t).statistic)


def spearman_rho(scores, truth) -> float | None:
    """Spearman ρ (Pearson correlation of average ranks); ``None`` when undefined."""
    s, t = _pair(scores, truth)
    if len(s) < 2 or _constant(s) or _constant(t):
        return None
    return _nan_to_none(stats.spearmanr(s, t).statistic)


def k_of(percent: float, n: int) -> int:
    """Number of architectures in the top ``percent`` % of ``n`` (floor; may be 0)."""
    # The small epsilon keeps 5 % of 1000 at 50 despite binary floating point.
    return int(math.floor(percent / 100.0 * n + 1e-9))


def topk_membership(values: np.ndarray, k: int) -> np.ndarray:
    """Probability that each item is among the ``k`` largest under random tie-breaking."""
    n = len(values)
    if not 0 <= k <= n:
        raise ValueError(f"k={k} out of range for n={n}")
    w = np.zeros(n)
    if k == 0:
        return w
    order = np.sort(values)[::-1]
    threshold = order[k - 1]
    above = values > threshold
    tied = values == threshold
    w[above] = 1.0
    w[tied] = (k - above.sum()) / tied.sum()
    return w


def precision_at_top(scores, truth, percent: float) -> float | None:
    """P@topK: expected fraction of the predicted top-K that is in the true top-K."""
    s, t = _pair(scores, truth)
    k = k_of(percent, len(s))
    if k < 1:
        return None
    return float(np.dot(topk_membership(s, k), topk_membership(t, k)) / k)


def precision_at_bottom(scores, truth, percent: float) -> float | None:
    """P@bottomK: expected fraction of the predicted bottom-K in the true bottom-K."""
    s, t = _pair(scores, truth)
    return precision_at_top(-s, -t, percent)


def true_ranks(truth) -> np.ndarray:
    """Rank 1 = best (highest truth); ties get their average rank."""
    t = np.asarray(truth, dtype=np.float64)
    return stats.rankdata(-t, method="average")


def _expected_extreme(scores: np.ndarray, ranks: np.ndarray, k: int, want_min: bool) -> float:
    """E[min or max of ``ranks`` over the top-``k`` of ``scores``] under random tie-breaking."""
    order = np.sort(scores)[::-1]
    threshold = order[k - 1]
    above = scores > threshold
    tied_ranks = np.sort(ranks[scores == threshold])
    m = k - int(above.sum())  # how many of the tied items are drawn
    b = len(tied_ranks)
    fixed = ranks[above]
    if m == 0:
        return float(fixed.min() if want_min else fixed.max())
    if not want_min:  # max of ranks = -(min of negated ranks)
        tied_ranks = -tied_ranks[::-1]
        fixed = -fixed
    # P(the smallest drawn element is the j-th smallest of b) = C(b-j, m-1) / C(b, m)
    # (j is 1-based); computed in log space to stay finite for large b.
    j = np.arange(1, b - m + 2)
    logp = (_log_comb(b - j, m - 1) - _log_comb(np.array([b]), m))
    p = np.exp(logp)
    cand = tied_ranks[: len(j)]
    if len(fixed):
        cand = np.minimum(cand, fixed.min())
    value = float(np.dot(p, cand) / p.sum())  # p sums to 1 up to rounding; normalise anyway
    return value if want_min else -value


def _log_comb(n: np.ndarray, r: int) -> np.ndarray:
    n = np.asarray(n, dtype=np.float64)
    return gammaln(n + 1) - gammaln(r + 1) - gammaln(n - r + 1)


def best_rank_at(scores, truth, percent: float) -> float | None:
    """BR@K: expected best true rank among the predicted top-K, divided by N (lower = better)."""
    s, t = _pair(scores, truth)
    k = k_of(percent, len(s))
    if k < 1:
        return None
    return _expected_extreme(s, true_ranks(t), k, want_min=True) / len(s)


def worst_rank_at(scores, truth, percent: float) -> float | None:
    """WR@K: expected worst true rank among the predicted top-K, divided by N (lower = better)."""
    s, t = _pair(scores, truth)
    k = k_of(percent, len(s))
    if k < 1:
        return None
    return _expected_extreme(s, true_ranks(t), k, want_min=False) / len(s)


def kendall_in_top(scores, truth, percent: float) -> float | None:
    """Kendall τ-b restricted to the predicted top-K.

    Every architecture whose score is at least the K-th largest score is included (so ties at
    the boundary make the set larger than K rather than depend on file order). ``None`` when
    fewer than 2 architectures qualify or τ is undefined (constant scores inside the set).
    """
    s, t = _pair(scores, truth)
    k = k_of(percent, len(s))
    if k < 1:
        return None
    threshold = np.sort(s)[::-1][k - 1]
    mask = s >= threshold
    if mask.sum() < 2:
        return None
    return kendall_tau(s[mask], t[mask])


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def ndcg_at_k(scores, truth, k: int, gain: str = "linear") -> float | None:
    """nDCG@k: discounted cumulative gain of the predicted top-``k``, relative to the ideal.

    DCG@k = Σ_{p=1..k} g(p) / log2(p + 1), where g(p) is the gain of the architecture the
    scores put at position ``p``: its true accuracy (``gain="linear"``, as VKDNW's analysis code
    computes it with scikit-learn's ``ndcg_score``) or ``2^accuracy − 1`` (``gain="exp"``, the
    exponential gain of information retrieval, accuracy in %). The ideal DCG@k orders by the
    truth itself. Architectures with tied scores share the mean gain of their tie group over the
    positions the group occupies, which is the expected DCG under a random tie-break
    (scikit-learn's default).

    Args:
        scores: predicted scores (higher = better).
        truth: true accuracies in %; must be non-negative (they make the gains).
        k: number of top positions, ``1 <= k <= N``.
        gain: ``"linear"`` or ``"exp"``.

    Returns:
        nDCG@k in [0, 1], or ``None`` when the ideal DCG is 0 (every gain is 0).

    Raises:
        ValueError: on ``k`` out of range, negative truth or an unknown gain.
    """
    s, t = _pair(scores, truth)
    if not 1 <= k <= len(s):
        raise ValueError(f"k={k} out of range for n={len(s)}")
    if np.any(t < 0):
        raise ValueError("nDCG needs non-negative truth (it makes the gain)")
    if gain == "exp":
        # Accuracies are at most 100 %, so 2^acc stays far inside float64 (2^100 ≈ 1.3e30).
        g = np.exp2(t) - 1.0
    elif gain == "linear":
        g = t
    else:
        raise ValueError(f"gain must be 'linear' or 'exp', not {gain!r}")
    disc = _discounts(k)
    ideal = float(np.dot(np.sort(g)[::-1][:k], disc))
    if ideal <= 0:
        return None
    # Tie groups of the scores, best first; each spans positions [start, start + size).
    uniq, inverse = np.unique(-s, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(uniq))
    mean_gain = np.bincount(inverse, weights=g, minlength=len(uniq)) / sizes
    cum = np.concatenate(([0.0], np.cumsum(disc)))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    lo, hi = np.minimum(starts, k), np.minimum(starts + sizes, k)
    return float(np.dot(mean_gain, cum[hi] - cum[lo]) / ideal)


def ndcg_at_top(scores, truth, percent: float, gain: str = "linear") -> float | None:
    """nDCG@K with K = ``percent`` % of the split (``None`` when K < 1 architecture)."""
    s, t = _pair(scores, truth)
    k = k_of(percent, len(s))
    if k < 1:
        return None
    return ndcg_at_k(s, t, k, gain)


def all_metrics(scores, truth) -> dict[str, float | None]:
    """Every metric above, keyed ``pearson``, ``kendall``, ``spearman``, ``p_top_5``,
    ``p_bottom_5``, ``br_5``, ``wr_5``, ``kendall_top_5``, ``ndcg_5``, ``ndcg_exp_5``, ...
    (percent in the key with ``.`` written as ``_``, e.g. ``p_top_0_5``). The nDCG keys are left
    out when some truth is negative (a gain cannot be)."""
    out: dict[str, float | None] = {
        "pearson": pearson(scores, truth),
        "kendall": kendall_tau(scores, truth),
        "spearman": spearman_rho(scores, truth),
    }
    for p in PRECISION_PERCENTS:
        key = pct_key(p)
        out[f"p_top_{key}"] = precision_at_top(scores, truth, p)
        out[f"p_bottom_{key}"] = precision_at_bottom(scores, truth, p)
        out[f"kendall_top_{key}"] = kendall_in_top(scores, truth, p)
    for p in BR_PERCENTS:
        key = pct_key(p)
        out[f"br_{key}"] = best_rank_at(scores, truth, p)
        out[f"wr_{key}"] = worst_rank_at(scores, truth, p)
    if np.all(np.asarray(truth, dtype=np.float64) >= 0):  # gains must be non-negative
        for p in NDCG_PERCENTS:
            out[f"ndcg_{pct_key(p)}"] = ndcg_at_top(scores, truth, p)
            out[f"ndcg_exp_{pct_key(p)}"] = ndcg_at_top(scores, truth, p, gain="exp")
    return out


def pct_key(p: float) -> str:
    """``0.5`` → ``"0_5"``, ``5`` → ``"5"``: a percentage as a key fragment."""
    return f"{p:g}".replace(".", "_")
