"""Paired significance: the randomisation test against scipy's, and sanity on real pairs."""

import numpy as np
import pytest
from scipy import stats

from recbench.results.significance import compare_correlations, compare_per_query


def test_identical_runs_are_not_different():
    v = np.random.default_rng(0).random(300)
    c = compare_per_query(v, v.copy(), "auc", n_perm=2000)
    assert c.difference == 0 and c.p_value == 1.0 and c.ci_low == c.ci_high == 0


@pytest.mark.parametrize("shift", [0.0, 0.03, 0.1])
def test_p_value_agrees_with_scipy_paired_permutation_test(shift):
    rng = np.random.default_rng(1)
    a = rng.random(400)
    b = np.clip(a + shift + rng.normal(0, 0.2, 400), 0, 1)
    ours = compare_per_query(a, b, "mrr", n_perm=5000, seed=3)
    ref = stats.permutation_test((a, b), lambda x, y: np.mean(y - x), permutation_type="samples",
                                 n_resamples=5000, alternative="two-sided", random_state=0)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=0.03)
    assert ours.ci_low <= ours.difference <= ours.ci_high
    assert ours.difference == pytest.approx(np.mean(b - a))


def test_undefined_queries_are_left_out_pairwise():
    a = np.array([0.5, np.nan, 0.7, 0.2])
    b = np.array([0.6, 0.9, np.nan, 0.4])
    c = compare_per_query(a, b, "auc", n_perm=100)
    assert c.shared_queries == 2 and c.difference == pytest.approx(0.15)


def test_correlation_comparison_finds_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(2)
    gold = rng.random(800)
    good = gold + rng.normal(0, 0.2, 800)
    bad = gold + rng.normal(0, 0.6, 800)
    c = compare_correlations(bad, good, gold, "spearman", n_boot=500, n_perm=1000)
    assert c.difference > 0 and c.p_value < 0.01 and c.ci_low > 0
    assert c.b == pytest.approx(stats.spearmanr(good, gold).statistic * 100)
    same = compare_correlations(good, good * 3 + 1, gold, "pearson", n_boot=200, n_perm=500)  # scale-free
    assert same.difference == pytest.approx(0, abs=1e-9) and same.p_value == 1.0


def test_resampled_spearman_equals_reranking_every_resample_with_scipy():
    """The report's Spearman bootstrap ranks from draw counts (issue 35: rankdata over every
    resample took minutes); it must equal scipy's rankdata on each resample, ties included."""
    from scipy.stats import rankdata, spearmanr

    from recbench.protocol.metrics import bootstrap_indices
    from recbench.results.significance import resampled_spearman

    rng = np.random.default_rng(7)
    for n, levels in ((7, 3), (60, 5), (400, 1000)):
        gold = rng.integers(0, levels, size=n).astype(float)
        a, b = rng.normal(size=n), np.round(rng.normal(size=n), 1)
        idx = bootstrap_indices(n, 300, 3)
        got_a, got_b = resampled_spearman(idx, gold, a, b, chunk=70)
        for k in (0, 1, 150, 299):
            want_a = spearmanr(a[idx[k]], gold[idx[k]]).statistic * 100
            assert got_a[k] == pytest.approx(want_a, abs=1e-9)
            ra, rg = rankdata(b[idx[k]]), rankdata(gold[idx[k]])
            assert got_b[k] == pytest.approx(np.corrcoef(ra, rg)[0, 1] * 100, abs=1e-9)


@pytest.mark.parametrize("metric", ["spearman", "pearson", "auc"])
def test_the_p_value_alone_is_the_p_value_with_its_interval(metric):
    """The report asks for p-values only (interval=False skips the bootstrap): the same p-value."""
    rng = np.random.default_rng(3)
    gold = rng.normal(size=300)
    a, b = gold + rng.normal(size=300), gold + 1.3 * rng.normal(size=300)
    if metric == "auc":
        full = compare_per_query(a, b, metric, n_perm=2000)
        alone = compare_per_query(a, b, metric, n_perm=2000, interval=False)
    else:
        full = compare_correlations(a, b, gold, metric, n_boot=200, n_perm=2000)
        alone = compare_correlations(a, b, gold, metric, n_boot=200, n_perm=2000, interval=False)
    assert alone.p_value == full.p_value and alone.difference == full.difference
    assert np.isnan(alone.ci_low) and np.isnan(alone.ci_high) and full.ci_low < full.difference < full.ci_high
