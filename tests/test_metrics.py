"""Ranking metrics against scipy and hand-computed cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from harness import metrics as M


@pytest.fixture
def rand_pair():
    rng = np.random.default_rng(0)
    t = rng.normal(size=300)
    s = t + rng.normal(size=300)
    return s, t


def test_correlations_match_scipy(rand_pair):
    s, t = rand_pair
    assert M.pearson(s, t) == pytest.approx(stats.pearsonr(s, t)[0], abs=1e-12)
    assert M.kendall_tau(s, t) == pytest.approx(stats.kendalltau(s, t).statistic, abs=1e-12)
    assert M.spearman_rho(s, t) == pytest.approx(stats.spearmanr(s, t).statistic, abs=1e-12)


def test_correlations_keep_their_sign(rand_pair):
    s, t = rand_pair
    assert M.kendall_tau(-s, t) == pytest.approx(-M.kendall_tau(s, t), abs=1e-12)
    assert M.spearman_rho(-s, t) < 0 and M.pearson(-s, t) < 0


def test_correlations_with_ties_match_scipy():
    s = [1, 1, 2, 2, 3, 5, 5, 5]
    t = [1, 2, 2, 3, 3, 4, 8, 9]
    assert M.kendall_tau(s, t) == pytest.approx(stats.kendalltau(s, t).statistic, abs=1e-12)
    assert M.spearman_rho(s, t) == pytest.approx(stats.spearmanr(s, t).statistic, abs=1e-12)


def test_undefined_correlations_are_none():
    assert M.pearson([1, 1, 1], [1, 2, 3]) is None
    assert M.kendall_tau([1, 1, 1], [1, 2, 3]) is None
    assert M.kendall_tau([1], [1]) is None


def test_nonfinite_input_is_rejected():
    with pytest.raises(ValueError):
        M.kendall_tau([1, float("nan")], [1, 2])


def test_k_of():
    assert M.k_of(5, 1000) == 50
    assert M.k_of(0.1, 1000) == 1
    assert M.k_of(0.5, 100) == 0  # K·N < 1 → undefined
    assert M.k_of(0.1, 15625) == 15


def test_precision_hand_case():
    truth = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    scores = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5]
    # top 20 % = 2 items: predicted {0, 2}, true {0, 1} → 1/2
    assert M.precision_at_top(scores, truth, 20) == 0.5
    # bottom 20 %: predicted {1, 3}, true {8, 9} → 0
    assert M.precision_at_bottom(scores, truth, 20) == 0.0
    assert M.precision_at_top(scores, truth, 5) is None  # k = 0


def test_precision_ties_are_expected_values():
    # Scores tie for the single top slot between arch 0 (truly best) and arch 1:
    # a random tie-break picks arch 0 half the time.
    assert M.precision_at_top([5, 5, 1, 0], [4, 3, 2, 1], 25) == pytest.approx(0.5)


def _brute_force_extremes(scores, truth, k):
    """E[min/max true rank of the predicted top-k] by enumerating all tie-breaks."""
    ranks = M.true_ranks(truth)
    n = len(scores)
    mins, maxs = [], []
    for perm in itertools.permutations(range(n)):
        # a tie-break order: sort by (-score, position in perm)
        pos = {a: i for i, a in enumerate(perm)}
        order = sorted(range(n), key=lambda a: (-scores[a], pos[a]))
        top = order[:k]
        mins.append(min(ranks[a] for a in top))
        maxs.append(max(ranks[a] for a in top))
    return np.mean(mins) / n, np.mean(maxs) / n


@pytest.mark.parametrize("scores,truth,pct", [
    ([3, 3, 3, 1, 0, 2], [6, 5, 4, 3, 2, 1], 50),
    ([1, 1, 1, 1, 1, 1], [6, 5, 4, 3, 2, 1], 34),
    ([5, 4, 4, 4, 1, 0], [1, 6, 2, 5, 3, 4], 50),
    ([6, 5, 4, 3, 2, 1], [6, 5, 4, 3, 2, 1], 17),
])
def test_br_wr_are_exact_expectations_under_random_tie_breaking(scores, truth, pct):
    k = M.k_of(pct, len(scores))
    br, wr = _brute_force_extremes(scores, truth, k)
    assert M.best_rank_at(scores, truth, pct) == pytest.approx(br, abs=1e-12)
    assert M.worst_rank_at(scores, truth, pct) == pytest.approx(wr, abs=1e-12)


def test_precision_is_exact_expectation_under_random_tie_breaking():
    scores = [3, 3, 3, 1, 0, 2]
    truth = [6, 5, 4, 3, 2, 1]
    n, k = 6, 2
    vals = []
    for perm in itertools.permutations(range(n)):
        pos = {a: i for i, a in enumerate(perm)}
        top = sorted(range(n), key=lambda a: (-scores[a], pos[a]))[:k]
        vals.append(len(set(top) & {0, 1}) / k)
    assert M.precision_at_top(scores, truth, 100 * k / n) == pytest.approx(np.mean(vals))


def test_br_of_a_perfect_estimator_is_one_over_n():
    t = np.arange(100.0)
    assert M.best_rank_at(t, t, 5) == pytest.approx(1 / 100)
    assert M.worst_rank_at(t, t, 5) == pytest.approx(5 / 100)
    assert M.best_rank_at(-t, t, 5) == pytest.approx(96 / 100)


def test_kendall_in_top():
    t = np.arange(10.0)
    s = t.copy()
    s[9], s[8] = s[8], s[9]  # swap the two best predictions
    # Predicted top 30 % = items {7, 8, 9}; inside it one discordant pair of three.
    assert M.kendall_in_top(s, t, 30) == pytest.approx(1 / 3)
    assert M.kendall_in_top(s, t, 5) is None


def test_all_metrics_keys(rand_pair):
    s, t = rand_pair
    out = M.all_metrics(s, t)
    for p in M.PRECISION_PERCENTS:
        assert f"p_top_{M.pct_key(p)}" in out
    for p in M.BR_PERCENTS:
        assert f"br_{M.pct_key(p)}" in out and f"wr_{M.pct_key(p)}" in out
    assert out["p_top_0_1"] is None  # 0.1 % of 300 < 1
    assert all(v is None or math.isfinite(v) for v in out.values())
