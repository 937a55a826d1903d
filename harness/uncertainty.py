"""Uncertainty of the ranking metrics: bootstrap confidence intervals over architectures, and
rank groups from a paired bootstrap of the τ difference (defined in ``docs/metrics.md``).

A split is a sample of architectures from a search space; another sample of the same size
would give another τ. The bootstrap estimates that spread by recomputing τ on resamples of the
split's architectures (drawn with replacement). Seeds are not resampled: the statistic of a
resample is the mean over the result's seeds, with every seed's scores taken on the same
resampled architectures, so the interval describes the architecture sampling of the seed-mean
τ that the leaderboard ranks by (the seed standard deviation is reported beside it).

The resample indices depend only on ``(seed, n_resamples, number of architectures)``, never on
the scores, so resample ``j`` of two estimators scored on the same split holds the same
architectures: their stored samples can be compared pairwise later, without the ground truth
(:func:`rank_groups`). The mean τ over several splits gets its samples from the splits'
stored ones (:func:`mean_over_splits`: a stratified bootstrap that keeps the pairing).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from scipy import stats

#: Defaults of the harness (stored with the samples, which only pair when these match).
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
BOOTSTRAP_LEVEL = 0.95

# Up to this many architectures τ-b of all resamples comes from one dense pair-sign matrix
# (exact in float32: every partial sum is an integer below 2^24); above it the O(N²) matrix
# product costs more than scipy's O(N log N) kendalltau once per resample (measured: equal
# near N = 3,000; dense is 2.5x faster at N = 1,000).
_DENSE_MAX_N = 3000
# Resamples processed together: bounds the memory of the (chunk × N) count matrices.
_CHUNK_CELLS = 4_000_000


def resample_indices(n_archs: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """The bootstrap resamples, in blocks: yields ``(rows, n_archs)`` integer arrays whose
    row ``j`` (counted over all blocks) is resample ``j``.

    Resample ``j`` is row ``j`` of ``Generator(PCG64(seed)).integers(0, n_archs,
    size=(n_resamples, n_archs))``; the block size does not change the values (64-bit draws are
    consumed in order), so the resamples are a function of ``(seed, n_resamples, n_archs)``.
    """
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_CELLS // max(n_archs, 1))
    for start in range(0, n_resamples, rows):
        yield rng.integers(0, n_archs, size=(min(rows, n_resamples - start), n_archs),
                           dtype=np.int64)


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each architecture occurs in each resample: ``(rows, n)`` int64."""
    rows = idx.shape[0]
    flat = (idx + (np.arange(rows, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n)


class _Ties:
    """Tie groups of one vector, to turn per-architecture counts into per-value counts."""

    def __init__(self, values: np.ndarray) -> None:
        uniq, inverse = np.unique(values, return_inverse=True)
        self.inverse = inverse  # group (sorted value) of each architecture
        self.order = np.argsort(inverse, kind="stable")
        sizes = np.bincount(inverse, minlength=len(uniq))
        self.starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))

    def group_counts(self, w: np.ndarray) -> np.ndarray:
        """``(rows, groups)``: resample size of each distinct value, in increasing order."""
        return np.add.reduceat(w[:, self.order], self.starts, axis=1)

    def tied_pairs(self, w: np.ndarray) -> np.ndarray:
        """Pairs of resample positions with equal values (duplicates included)."""
        g = self.group_counts(w).astype(np.float64)
        return 0.5 * np.sum(g * (g - 1.0), axis=1)

    def average_ranks(self, w: np.ndarray) -> np.ndarray:
        """``(rows, n)``: each architecture's average rank (1-based) inside each resample."""
        g = self.group_counts(w).astype(np.float64)
        before = np.cumsum(g, axis=1) - g
        return (before + (g + 1.0) / 2.0)[:, self.inverse]


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    ok = den > 0
    out[ok] = num[ok] / np.sqrt(den[ok])
    return out


def _spearman(w: np.ndarray, rs: np.ndarray, rt: np.ndarray) -> np.ndarray:
    """Spearman ρ of each resample: the weighted Pearson correlation of the average ranks
    (the mean rank of a resample of size N is always (N + 1) / 2)."""
    m = (w.shape[1] + 1) / 2.0
    ds, dt = rs - m, rt - m
    cov = np.sum(w * ds * dt, axis=1)
    return _safe_ratio(cov, np.sum(w * ds * ds, axis=1) * np.sum(w * dt * dt, axis=1))


def _kendall_dense(w: np.ndarray, signs: np.ndarray, ties_s: _Ties,
                   ties_t: _Ties) -> np.ndarray:
    """Kendall τ-b of each resample from counts: (C − D) = ½ wᵀ A w with
    A_ij = sign(s_i − s_j)·sign(t_i − t_j); copies of one architecture are tied in both."""
    wf = w.astype(np.float32)
    half = 0.5 * np.sum((wf @ signs).astype(np.float64) * w, axis=1)
    n = w.shape[1]
    n0 = n * (n - 1) / 2.0
    return _safe_ratio(half, (n0 - ties_s.tied_pairs(w)) * (n0 - ties_t.tied_pairs(w)))


def _kendall_loop(idx: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.array([stats.kendalltau(s[r], t[r]).statistic for r in idx], dtype=np.float64)


def _seed_mean(per_seed: list[np.ndarray]) -> np.ndarray:
    """Mean over seeds of each resample's value, over the seeds where it is defined."""
    stack = np.stack(per_seed)
    ok = np.isfinite(stack)
    n = ok.sum(axis=0)
    total = np.where(ok, stack, 0.0).sum(axis=0)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _interval(samples: np.ndarray, level: float) -> dict[str, float | None]:
    finite = samples[np.isfinite(samples)]
    if not len(finite):
        return {"lo": None, "hi": None}
    lo, hi = np.quantile(finite, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"lo": round(float(lo), 6), "hi": round(float(hi), 6)}


def bootstrap_metrics(per_seed_scores: Sequence[np.ndarray], truth: np.ndarray, *,
                      n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                      level: float = BOOTSTRAP_LEVEL) -> dict:
    """Percentile bootstrap confidence intervals of the seed-mean Kendall τ and Spearman ρ.

    Each resample draws ``N`` architecture indices with replacement (see
    :func:`resample_indices`); the same indices select every seed's scores and the truth; the
    resample's statistic is the mean over seeds of τ (resp. ρ) on the resampled architectures
    (τ-b and average ranks, so copies of one architecture count as ties, as scipy counts them).
    The interval is the ``(1 − level)/2`` and ``1 − (1 − level)/2`` quantiles of the defined
    resample values.

    **Pairing.** The resample indices depend only on ``(seed, n_resamples, N)``, never on the
    scores: sample ``j`` of estimator A and sample ``j`` of estimator B, computed with the same
    ``seed`` and ``n_resamples`` on the same split, are computed on the same resampled
    architectures. The stored ``kendall_samples`` therefore allow a *paired* bootstrap between
    two estimators later, without the ground truth (:func:`rank_groups`).

    Args:
        per_seed_scores: one score vector per seed, each of length ``N`` and finite (failed
            scores already ranked last, as the harness does before computing metrics).
        truth: the ground truth, length ``N``.
        n_resamples: number of bootstrap resamples (at least 1,000 for the results files).
        seed: seed of the resampling generator.
        level: confidence level of the interval.

    Returns:
        A JSON-able dict: ``method`` ("percentile"), ``level``, ``n_resamples``, ``seed``,
        ``n_archs``, ``kendall`` and ``spearman`` (each ``{"lo", "hi"}``, ``None`` where no
        resample is defined), and ``kendall_samples`` (the resample values of the seed-mean τ
        in resample order, rounded to 6 decimals; ``None`` where τ is undefined on every seed,
        e.g. a resample whose scores are all tied).

    Raises:
        ValueError: on empty, mismatched, non-finite or too short inputs.
    """
    t = np.asarray(truth, dtype=np.float64)
    scores = [np.asarray(s, dtype=np.float64) for s in per_seed_scores]
    if not scores:
        raise ValueError("bootstrap_metrics needs the scores of at least one seed")
    if t.ndim != 1 or len(t) < 2:
        raise ValueError(f"truth must be 1-D with at least 2 entries, got shape {t.shape}")
    for s in scores:
        if s.shape != t.shape:
            raise ValueError(f"scores and truth must have equal length: {s.shape} vs {t.shape}")
        if not np.isfinite(s).all():
            raise ValueError("bootstrap needs finite scores; rank failures last first")
    if not np.isfinite(t).all():
        raise ValueError("bootstrap needs finite truth")
    if n_resamples < 1 or not 0 < level < 1:
        raise ValueError(f"need n_resamples >= 1 and 0 < level < 1, got {n_resamples}, {level}")
    n = len(t)
    dense = n <= _DENSE_MAX_N
    ties_t = _Ties(t)
    ties_s = [_Ties(s) for s in scores]
    # The sign matrices do not depend on the resample: build each once per seed.
    signs = [(np.sign(s[:, None] - s[None, :]) * np.sign(t[:, None] - t[None, :]))
             .astype(np.float32) for s in scores] if dense else []
    taus, rhos = [], []
    for idx in resample_indices(n, n_resamples, seed):
        w = _counts(idx, n)
        rt = ties_t.average_ranks(w)
        tau_seed, rho_seed = [], []
        for i, s in enumerate(scores):
            tau_seed.append(_kendall_dense(w, signs[i], ties_s[i], ties_t) if dense
                            else _kendall_loop(idx, s, t))
            rho_seed.append(_spearman(w, ties_s[i].average_ranks(w), rt))
        taus.append(_seed_mean(tau_seed))
        rhos.append(_seed_mean(rho_seed))
    tau, rho = np.concatenate(taus), np.concatenate(rhos)
    return {
        "method": "percentile",
        "level": level,
        "n_resamples": n_resamples,
        "seed": seed,
        "n_archs": n,
        "kendall": _interval(tau, level),
        "spearman": _interval(rho, level),
        "kendall_samples": [round(float(x), 6) if math.isfinite(x) else None for x in tau],
    }


def rank_groups(samples: Mapping[str, np.ndarray], point: Mapping[str, float], *,
                level: float = BOOTSTRAP_LEVEL) -> dict[str, int]:
    """Rank groups: estimators whose τ cannot be told apart by a paired bootstrap.

    Estimators are taken in order of decreasing point τ (ties by name). The first opens group
    1 and *leads* it. Each next estimator ``e`` is compared with the leader ``L`` of the current
    group through the paired differences ``d_j = samples[L][j] − samples[e][j]`` (same
    resampled architectures in both): if the ``level`` percentile interval of ``d`` contains 0
    (its lower end ``(1 − level)/2`` quantile is ≤ 0), ``e`` joins the group; otherwise ``e`` is
    shown worse than ``L`` and opens the next group, which it leads. Comparing with the leader
    rather than with the previous estimator keeps groups from chaining (A ≈ B ≈ C with A
    clearly better than C in one group); ``docs/metrics.md`` gives the reasoning.

    Args:
        samples: estimator → its bootstrap samples of the seed-mean τ (``kendall_samples`` of
            :func:`bootstrap_metrics`), all of the same length, computed with the same bootstrap
            seed and number of resamples on the same split; ``None``/NaN entries are left out
            pairwise.
        point: estimator → its point τ (the ranking value); must cover ``samples``.
        level: confidence level of the interval of the difference.

    Returns:
        estimator → group number (1 = best), for every estimator in ``samples``.

    Raises:
        ValueError: on samples of unequal length, or a name without a point τ.
    """
    arrays = {name: np.asarray([np.nan if v is None else v for v in vals], dtype=np.float64)
              for name, vals in samples.items()}
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) > 1:
        raise ValueError(f"paired samples must have equal length, got {sorted(lengths)}")
    missing = sorted(set(arrays) - set(point))
    if missing:
        raise ValueError(f"no point τ for {missing}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    order = sorted(arrays, key=lambda name: (-float(point[name]), name))
    groups: dict[str, int] = {}
    leader: str | None = None
    group = 0
    for name in order:
        if leader is None or _separated(arrays[leader], arrays[name], level):
            group += 1
            leader = name
        groups[name] = group
    return groups


def mean_over_splits(samples: Mapping[str, Sequence[float | None]]) -> np.ndarray:
    """Bootstrap samples of the mean τ over several splits, from each split's stored samples.

    The population is stratified: each split is its own sample of architectures, resampled
    on its own. Sample ``j`` of the mean is the mean over splits ``s`` of split ``s``'s
    resample ``π_s(j)``, where ``π_s`` is a fixed permutation of the resample order drawn from
    the split's *name* alone. Two reasons for the permutation:

    * **Independent strata.** The resample indices depend only on the number of
      architectures, the bootstrap seed and the number of resamples, so two splits of 1,000
      architectures draw the same positions in resample ``j``. Averaging resample ``j`` of each
      would tie the splits' resamples together; permuting each split's (exchangeable, i.i.d.)
      resamples by its own permutation combines independent draws instead.
    * **Pairing kept.** The permutation depends on the split, never on the estimator, so
      sample ``j`` of two estimators still rests on the same resampled architectures on every
      split, and :func:`rank_groups` can compare the means pairwise.

    Args:
        samples: split name → that split's bootstrap samples of the seed-mean τ
            (``kendall_samples``), all of one length; ``None``/NaN where a resample is
            undefined (the mean is then NaN for that ``j``, which :func:`rank_groups` and
            :func:`interval` leave out).

    Returns:
        The samples of the mean over the splits, in the order of ``j``.

    Raises:
        ValueError: with no split, or samples of unequal length.
    """
    if not samples:
        raise ValueError("mean_over_splits needs the samples of at least one split")
    arrays = {name: np.asarray([np.nan if v is None else v for v in vals], dtype=np.float64)
              for name, vals in samples.items()}
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) > 1:
        raise ValueError(f"every split needs as many samples, got {sorted(lengths)}")
    total = np.zeros(lengths.pop(), dtype=np.float64)
    for name in sorted(arrays):  # a fixed order: the float sum is the same bits every time
        total += arrays[name][_split_permutation(name, len(total))]
    return total / len(arrays)


def _split_permutation(split: str, n: int) -> np.ndarray:
    """A permutation of ``range(n)`` fixed by the split's name (CRC-32: the same on every
    machine and Python, unlike ``hash``)."""
    return np.random.default_rng(zlib.crc32(split.encode("utf-8"))).permutation(n)


def interval(samples: np.ndarray, level: float = BOOTSTRAP_LEVEL) -> dict[str, float | None]:
    """Percentile interval of bootstrap samples (non-finite ones left out): ``{"lo", "hi"}``,
    both ``None`` when no sample is finite."""
    return _interval(np.asarray(samples, dtype=np.float64), level)


def _separated(better: np.ndarray, worse: np.ndarray, level: float) -> bool:
    """Whether the paired interval of ``better − worse`` lies entirely above 0."""
    d = better - worse
    d = d[np.isfinite(d)]
    if not len(d):  # nothing to compare on: cannot be told apart
        return False
    return bool(np.quantile(d, (1 - level) / 2) > 0)
