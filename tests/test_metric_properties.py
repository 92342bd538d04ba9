"""Property-based tests of the metric functions (issue 19's fuzz suite): bounds, an oracle at 1,
invariance to the order candidates are listed in, and agreement with brute-force references
(scikit-learn's AUC; every tie-breaking order enumerated for the expected ranking metrics)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import assume, given, settings, strategies as st
from sklearn.metrics import roc_auc_score

from recbench.protocol.metrics import expected_ranking_metrics, impression_metrics

SETTINGS = settings(max_examples=200, deadline=None)


@st.composite
def impressions(draw, distinct=False):
    """A few impressions: integer-valued scores (ties likely unless ``distinct``) and click labels."""
    sizes = draw(st.lists(st.integers(1, 8), min_size=1, max_size=5))
    n = sum(sizes)
    if distinct:
        scores = draw(st.permutations(list(range(n))))
    else:
        scores = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    labels = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    offsets = np.r_[0, np.cumsum(sizes)]
    return np.array(scores, float), np.array(labels, float), offsets


@SETTINGS
@given(impressions())
def test_impression_metrics_stay_in_bounds_and_auc_matches_scikit_learn(imp):
    scores, labels, offsets = imp
    out = impression_metrics(scores, labels, offsets)
    for values in out.values():
        defined = values[np.isfinite(values)]
        assert np.all((defined >= 0) & (defined <= 1 + 1e-12))
    for i in range(len(offsets) - 1):
        y, s = labels[offsets[i]:offsets[i + 1]], scores[offsets[i]:offsets[i + 1]]
        if 0 < y.sum() < len(y):
            assert abs(out["auc"][i] - roc_auc_score(y, s)) < 1e-12
        else:
            assert np.isnan(out["auc"][i])


@SETTINGS
@given(impressions(distinct=True), st.randoms())
def test_impression_metrics_do_not_depend_on_the_order_candidates_are_listed_in(imp, rnd):
    scores, labels, offsets = imp
    sizes = [int(x) for x in np.diff(offsets)]
    perm = np.concatenate([int(offsets[i]) + np.array(rnd.sample(range(size), size)) for i, size in enumerate(sizes)])
    a, b = impression_metrics(scores, labels, offsets), impression_metrics(scores[perm], labels[perm], offsets)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], equal_nan=True)


@SETTINGS
@given(impressions())
def test_an_oracle_scores_one_on_auc_and_ndcg_and_the_best_possible_mrr(imp):
    _, labels, offsets = imp
    out = impression_metrics(labels.copy(), labels, offsets)  # every click above every non-click
    for i in range(len(offsets) - 1):
        clicks = int(labels[offsets[i]:offsets[i + 1]].sum())
        if clicks == 0:
            continue
        for k in ("ndcg@5", "ndcg@10"):
            assert abs(out[k][i] - 1.0) < 1e-12
        if clicks < offsets[i + 1] - offsets[i]:
            assert out["auc"][i] == 1.0
        # MIND's MRR averages 1/rank over every click: the best is the mean of 1/1 .. 1/clicks
        assert abs(out["mrr"][i] - np.mean(1.0 / np.arange(1, clicks + 1))) < 1e-12


def brute_force(scores: np.ndarray, grades: np.ndarray, k: int) -> dict[str, float]:
    """MRR, HR@k, nDCG@k averaged over every order of the catalog that sorts it by score."""
    n = len(scores)
    results = []
    for order in itertools.permutations(range(n)):
        s = scores[list(order)]
        if np.any(s[:-1] < s[1:]):
            continue
        g = grades[list(order)]
        rel = np.flatnonzero(g > 0)
        gains = 2.0 ** g - 1.0
        dcg = sum(gains[r] / np.log2(r + 2) for r in range(min(k, n)))
        ideal = np.sort(gains)[::-1]
        idcg = sum(ideal[r] / np.log2(r + 2) for r in range(min(k, n)))
        results.append((1.0 / (rel[0] + 1), float(rel[0] < k), dcg / idcg))
    mrr, hr, ndcg = np.mean(results, axis=0)
    return {"mrr": mrr, f"hr@{k}": hr, f"ndcg@{k}": ndcg}


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 6).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 2), min_size=n, max_size=n),
    st.lists(st.integers(0, 2), min_size=n, max_size=n))), st.integers(1, 4))
def test_expected_ranking_metrics_equal_the_average_over_every_tie_breaking_order(data, k):
    scores, grades = np.array(data[0], float), np.array(data[1], float)
    assume(grades.sum() > 0)
    relevant = np.flatnonzero(grades > 0)
    higher = np.array([(scores > scores[i]).sum() for i in relevant])
    tied = np.array([(scores == scores[i]).sum() - 1 for i in relevant])
    got = expected_ranking_metrics(higher, tied, np.array([0, len(relevant)]), grades[relevant], k=k)
    want = brute_force(scores, grades, k)
    for name, value in want.items():
        assert abs(got[name][0] - value) < 1e-9, name


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(1, 5), st.integers(1, 10))
def test_a_model_that_knows_nothing_scores_chance_and_an_oracle_scores_one(n, relevant, k):
    relevant = min(relevant, n)
    chance = expected_ranking_metrics(np.zeros(relevant, int), np.full(relevant, n - 1), np.array([0, relevant]), k=k)
    # all n items tied: P(some relevant item in the top k) = 1 - C(n - r, k) / C(n, k)
    from math import comb

    assert abs(chance[f"hr@{k}"][0] - (1 - comb(n - relevant, min(k, n)) / comb(n, min(k, n)))) < 1e-9
    oracle = expected_ranking_metrics(np.zeros(relevant, int), np.full(relevant, relevant - 1),
                                      np.array([0, relevant]), k=k)  # relevant items tied with each other, on top
    assert oracle["mrr"][0] == 1.0 and oracle[f"hr@{k}"][0] == 1.0 and abs(oracle[f"ndcg@{k}"][0] - 1.0) < 1e-12
