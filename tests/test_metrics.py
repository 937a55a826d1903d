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


# --------------------------------------------------------------------------------------------
# nDCG@K
# --------------------------------------------------------------------------------------------


def test_ndcg_hand_computed():
    # Predicted order by score: archs 0, 1, 2 with gains 1, 3, 2; ideal order 3, 2, 1.
    scores, truth = [3.0, 2.0, 1.0], [1.0, 3.0, 2.0]
    dcg = 1 / 1 + 3 / math.log2(3) + 2 / 2
    ideal = 3 / 1 + 2 / math.log2(3) + 1 / 2
    assert M.ndcg_at_k(scores, truth, 3) == pytest.approx(dcg / ideal, abs=1e-12)
    assert M.ndcg_at_k(scores, truth, 1) == pytest.approx(1 / 3, abs=1e-12)
    assert M.ndcg_at_k(truth, truth, 3) == pytest.approx(1.0, abs=1e-12)
    # Ties: archs 0 and 1 share the top score, so positions 1 and 2 get their mean gain 1.
    assert M.ndcg_at_k([1.0, 1.0, 0.0], [2.0, 0.0, 1.0], 1) == pytest.approx(0.5, abs=1e-12)
    with pytest.raises(ValueError):
        M.ndcg_at_k(scores, truth, 4)
    with pytest.raises(ValueError):
        M.ndcg_at_k(scores, [-1.0, 3.0, 2.0], 2)
    assert M.ndcg_at_k(scores, [0.0, 0.0, 0.0], 2) is None


@pytest.mark.parametrize(("gain", "k"), [("linear", 1), ("linear", 2), ("linear", 3),
                                         ("linear", 5), ("exp", 1), ("exp", 2), ("exp", 4)])
def test_ndcg_is_the_expected_dcg_under_random_tie_breaking(gain, k):
    scores = [3, 3, 3, 1, 1, 2]
    truth = [6.0, 1.0, 4.0, 3.0, 2.0, 5.0]
    gains = truth if gain == "linear" else [2.0 ** a - 1 for a in truth]
    disc = 1 / np.log2(np.arange(2, k + 2))
    ideal = float(np.dot(sorted(gains, reverse=True)[:k], disc))
    vals = []
    for perm in itertools.permutations(range(6)):
        pos = {a: i for i, a in enumerate(perm)}
        top = sorted(range(6), key=lambda a: (-scores[a], pos[a]))[:k]
        vals.append(np.dot([gains[a] for a in top], disc) / ideal)
    assert M.ndcg_at_k(scores, truth, k, gain=gain) == pytest.approx(np.mean(vals), abs=1e-12)


def test_ndcg_exponential_gain_hand_computed():
    # Accuracies 3, 2, 0 (%) give gains 2^3-1 = 7, 2^2-1 = 3, 2^0-1 = 0. The scores put the
    # 2 % architecture first and the 3 % one second.
    scores, truth = [2.0, 3.0, 1.0], [3.0, 2.0, 0.0]
    dcg = 3 / 1 + 7 / math.log2(3)
    ideal = 7 / 1 + 3 / math.log2(3)
    assert dcg / ideal == pytest.approx(0.833991, abs=1e-6)
    assert M.ndcg_at_k(scores, truth, 2, gain="exp") == pytest.approx(dcg / ideal, abs=1e-12)
    # The linear gain of the same ranking is closer to 1: (2 + 3/log2 3) / (3 + 2/log2 3).
    assert M.ndcg_at_k(scores, truth, 2) == pytest.approx(
        (2 + 3 / math.log2(3)) / (3 + 2 / math.log2(3)), abs=1e-12)
    # Real accuracies: one point less at the top halves that position's gain.
    assert M.ndcg_at_k([1.0, 0.0], [93.0, 94.0], 1, gain="exp") == pytest.approx(0.5, rel=1e-12)
    assert M.ndcg_at_k([1.0, 0.0], [93.0, 94.0], 1) == pytest.approx(93 / 94, rel=1e-12)
    assert M.ndcg_at_k(scores, [0.0, 0.0, 0.0], 2, gain="exp") is None
    with pytest.raises(ValueError, match="gain"):
        M.ndcg_at_k(scores, truth, 2, gain="log")


def test_ndcg_exp_separates_random_from_perfect_where_linear_does_not():
    """The reason for the exponential gain: on real-looking accuracies (a few points apart at
    the top) a random ranking's linear nDCG is close to 1, the exponential one is not."""
    rng = np.random.default_rng(0)
    truth = 94.0 - rng.exponential(3.0, size=2000)
    scores = rng.permutation(len(truth)).astype(float)
    k = 100
    assert M.ndcg_at_k(scores, truth, k) > 0.95
    assert M.ndcg_at_k(scores, truth, k, gain="exp") < 0.5
    assert M.ndcg_at_k(truth, truth, k, gain="exp") == pytest.approx(1.0, abs=1e-12)


def test_all_metrics_has_ndcg_at_the_top_k_percentages(rand_pair):
    s, t = rand_pair
    t = t - t.min()  # gains must be non-negative
    out = M.all_metrics(s, t)
    for p in M.NDCG_PERCENTS:
        assert f"ndcg_{M.pct_key(p)}" in out
        assert f"ndcg_exp_{M.pct_key(p)}" in out
    assert out["ndcg_0_1"] is None  # 0.1 % of 300 < 1
    assert out["ndcg_5"] == pytest.approx(M.ndcg_at_k(s, t, 15))
    assert out["ndcg_100"] == pytest.approx(M.ndcg_at_k(s, t, 300))
    assert out["ndcg_exp_5"] == pytest.approx(M.ndcg_at_k(s, t, 15, gain="exp"))
    assert "ndcg_5" not in M.all_metrics(s, t - 10)  # negative truth: no gains, no nDCG


# --------------------------------------------------------------------------------------------
# bootstrap confidence intervals and rank groups (harness/uncertainty.py)
# --------------------------------------------------------------------------------------------

from harness import uncertainty as U  # noqa: E402


@pytest.mark.parametrize("n", [120, 3100])  # both code paths: dense counts, scipy per resample
def test_bootstrap_samples_are_scipy_on_the_resampled_architectures(n):
    rng = np.random.default_rng(5)
    t = np.round(rng.normal(size=n), 1)  # ties in truth and in scores
    seeds = [np.round(t + rng.normal(size=n), 1) for _ in range(2)]
    out = U.bootstrap_metrics(seeds, t, n_resamples=12, seed=7)
    idx = np.random.default_rng(7).integers(0, n, size=(12, n))
    tau = [np.mean([stats.kendalltau(s[r], t[r]).statistic for s in seeds]) for r in idx]
    rho = [np.mean([stats.spearmanr(s[r], t[r]).statistic for s in seeds]) for r in idx]
    assert np.max(np.abs(np.array(out["kendall_samples"]) - tau)) <= 5.1e-7  # 6 decimals
    lo, hi = np.quantile(rho, [0.025, 0.975])
    assert out["spearman"]["lo"] == pytest.approx(lo, abs=1e-6)
    assert out["spearman"]["hi"] == pytest.approx(hi, abs=1e-6)
    assert out["kendall"]["lo"] == pytest.approx(np.quantile(tau, 0.025), abs=1e-6)
    assert (out["method"], out["level"], out["n_resamples"], out["seed"], out["n_archs"]) == \
        ("percentile", 0.95, 12, 7, n)


def test_bootstrap_resamples_do_not_depend_on_the_scores():
    """The pairing contract: same (seed, n_resamples, N) → same architectures in resample j."""
    rng = np.random.default_rng(0)
    t = rng.normal(size=50)
    a = U.bootstrap_metrics([t + rng.normal(size=50)], t, n_resamples=30, seed=3)
    perfect = U.bootstrap_metrics([t], t, n_resamples=30, seed=3)
    assert perfect["kendall_samples"] == [1.0] * 30  # scores = truth on every resample
    blocks = np.concatenate(list(U.resample_indices(50, 30, 3)))
    assert (blocks == np.random.default_rng(3).integers(0, 50, size=(30, 50))).all()
    other = U.bootstrap_metrics([t + rng.normal(size=50)], t, n_resamples=30, seed=4)
    assert other["kendall_samples"] != a["kendall_samples"]


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError):
        U.bootstrap_metrics([], np.arange(5.0))
    with pytest.raises(ValueError):
        U.bootstrap_metrics([np.arange(4.0)], np.arange(5.0))
    with pytest.raises(ValueError):
        U.bootstrap_metrics([np.array([1.0, np.nan, 2.0])], np.arange(3.0))


def test_bootstrap_undefined_resamples_are_none():
    # Two architectures: a resample that draws the same one twice has constant scores.
    out = U.bootstrap_metrics([np.array([0.0, 1.0])], np.array([0.0, 1.0]), n_resamples=40)
    samples = out["kendall_samples"]
    assert None in samples and 1.0 in samples
    assert set(samples) <= {None, 1.0}
    assert out["kendall"] == {"lo": 1.0, "hi": 1.0}


def test_bootstrap_interval_covers_the_true_tau():
    """Coverage on bivariate normal data, where τ = (2/π)·arcsin(r) exactly: the 95 % interval
    of 200 independent datasets must contain the true τ in roughly 95 % of them."""
    r, n, trials = 0.6, 100, 200
    true_tau = 2 / math.pi * math.asin(r)
    rng = np.random.default_rng(2021)
    cov = [[1.0, r], [r, 1.0]]
    hits, widths = 0, []
    for i in range(trials):
        x = rng.multivariate_normal([0.0, 0.0], cov, size=n)
        ci = U.bootstrap_metrics([x[:, 0]], x[:, 1], n_resamples=1000, seed=i)["kendall"]
        hits += ci["lo"] <= true_tau <= ci["hi"]
        widths.append(ci["hi"] - ci["lo"])
    coverage = hits / trials
    assert 0.90 <= coverage <= 0.99, coverage
    # Not trivially wide: the standard error of τ at n = 100 is about 0.05.
    assert 0.12 < np.mean(widths) < 0.30, np.mean(widths)


def _pair_of_estimators(n: int, swap: float, seed: int = 0):
    """Truth, estimator A (truth + noise) and B = A with ``swap`` of its scores shuffled."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=n)
    a = t + rng.normal(size=n)
    b = a.copy()
    pick = rng.choice(n, size=int(swap * n), replace=False)
    b[pick] = rng.permutation(b[pick])
    return t, a, b


def test_rank_groups_pairing_separates_a_small_known_difference():
    """B is A with 10 % of its scores shuffled among themselves: τ drops by about 0.04, less
    than either interval's half-width, so the unpaired intervals overlap — but the paired
    difference is clear, so the groups differ. Identical estimators share a group."""
    t, a, b = _pair_of_estimators(1000, 0.10)
    boot = {name: U.bootstrap_metrics([s], t) for name, s in (("a", a), ("b", b), ("a2", a))}
    point = {"a": M.kendall_tau(a, t), "b": M.kendall_tau(b, t), "a2": M.kendall_tau(a, t)}
    assert 0.02 < point["a"] - point["b"] < 0.06
    assert boot["b"]["kendall"]["hi"] > boot["a"]["kendall"]["lo"]  # unpaired: overlap
    samples = {k: np.array(v["kendall_samples"]) for k, v in boot.items()}
    groups = U.rank_groups(samples, point)
    assert groups == {"a": 1, "a2": 1, "b": 2}
    # Breaking the pairing (B's samples from other resamples) hides the difference.
    shuffled = U.bootstrap_metrics([b], t, seed=1)["kendall_samples"]
    groups = U.rank_groups({"a": samples["a"], "b": np.array(shuffled)}, point)
    assert groups == {"a": 1, "b": 1}


def test_rank_groups_compare_with_the_group_leader_not_the_neighbour():
    """A chain of small steps: each neighbour is indistinguishable from the next, but the
    group closes once the distance to its leader is clear."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=1000)
    # Paired samples with a common resample effect and small independent noise per estimator.
    samples = {f"e{i}": 0.5 - 0.01 * i + base * 0.03 + rng.normal(size=1000) * 0.004
               for i in range(8)}
    point = {k: float(np.mean(v)) for k, v in samples.items()}
    groups = U.rank_groups(samples, point)
    assert groups["e0"] == 1 and groups["e7"] > 1
    assert sorted(groups.values()) == [groups[f"e{i}"] for i in range(8)]  # monotone
    assert len(set(groups.values())) < 8  # neighbours are grouped
    with pytest.raises(ValueError):
        U.rank_groups({"a": np.zeros(3), "b": np.zeros(4)}, {"a": 0.0, "b": 0.0})
    with pytest.raises(ValueError):
        U.rank_groups({"a": np.zeros(3)}, {})


def test_mean_over_splits_keeps_the_pairing_and_makes_the_splits_independent():
    """The samples of a mean over splits: paired between estimators (the permutation of a
    split's resamples depends on the split, not the estimator), independent between splits
    (one array given for two splits averages like two independent draws, std / √2, where
    averaging sample j with sample j would keep the whole std), the same bits in any order."""
    rng = np.random.default_rng(7)
    a = rng.normal(0.5, 0.02, size=1000)
    b = rng.normal(0.3, 0.02, size=1000)
    mean_a = U.mean_over_splits({"s1": a, "s2": b})
    shifted = U.mean_over_splits({"s1": a - 0.01, "s2": b - 0.03})
    np.testing.assert_allclose(mean_a - shifted, 0.02, atol=1e-12)  # paired sample by sample
    assert np.mean(mean_a) == pytest.approx(0.4, abs=0.002)
    twice = U.mean_over_splits({"x": a, "y": a})
    assert np.std(twice) == pytest.approx(np.std(a) / math.sqrt(2), rel=0.1)
    assert np.array_equal(U.mean_over_splits({"s2": b, "s1": a}), mean_a)
    with_none = U.mean_over_splits({"s1": [None, 0.2, 0.4], "s2": [0.1, 0.1, 0.1]})
    assert np.isnan(with_none).sum() == 1
    with pytest.raises(ValueError):
        U.mean_over_splits({})
    with pytest.raises(ValueError):
        U.mean_over_splits({"s1": a, "s2": b[:10]})


def test_mean_over_splits_interval_covers_the_true_mean_tau():
    """Coverage of the stratified interval: two splits of bivariate normal data (τ known
    exactly) bootstrapped with the same seed, as the harness does; the 95 % interval of the
    mean τ must contain the true mean in roughly 95 % of 120 datasets."""
    rs, n, trials = (0.6, 0.3), 100, 120
    true_mean = float(np.mean([2 / math.pi * math.asin(r) for r in rs]))
    rng = np.random.default_rng(2026)
    hits = 0
    for _ in range(trials):
        samples = {}
        for i, r in enumerate(rs):
            x = rng.multivariate_normal([0.0, 0.0], [[1.0, r], [r, 1.0]], size=n)
            samples[f"split{i}"] = U.bootstrap_metrics([x[:, 0]], x[:, 1])["kendall_samples"]
        ci = U.interval(U.mean_over_splits(samples))
        hits += ci["lo"] <= true_mean <= ci["hi"]
    assert 0.88 <= hits / trials <= 0.995, hits / trials
