"""Vectorised impression metrics against a plain per-impression loop built on scikit-learn,
written the way MIND's official scorer (evaluate.py) computes them."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from recbench.protocol.metrics import impression_metrics


def mind_dcg(y_true, y_score, k):
    order = np.argsort(y_score, kind="stable")[::-1]
    y_true = np.take(y_true, order[:k])
    gains = 2 ** y_true - 1
    discounts = np.log2(np.arange(len(y_true)) + 2)
    return np.sum(gains / discounts)


def mind_ndcg(y_true, y_score, k):
    return mind_dcg(y_true, y_score, k) / mind_dcg(y_true, y_true, k)


def mind_mrr(y_true, y_score):
    order = np.argsort(y_score, kind="stable")[::-1]
    y_true = np.take(y_true, order)
    return np.sum(y_true / (np.arange(len(y_true)) + 1)) / np.sum(y_true)


def random_impressions(rng, n_imp, max_len=30, tie_levels=4):
    lengths = rng.integers(2, max_len, size=n_imp)
    offsets = np.r_[0, np.cumsum(lengths)]
    n = offsets[-1]
    scores = rng.integers(0, tie_levels, size=n).astype(float)  # coarse scores: many ties
    labels = (rng.random(n) < 0.2).astype(int)
    return scores, labels, offsets


@pytest.mark.parametrize("seed", [0, 1])
def test_vectorised_metrics_equal_the_per_impression_sklearn_loop(seed):
    rng = np.random.default_rng(seed)
    scores, labels, offsets = random_impressions(rng, 400)
    got = impression_metrics(scores, labels, offsets)
    for i in range(len(offsets) - 1):
        s, y = scores[offsets[i]:offsets[i + 1]], labels[offsets[i]:offsets[i + 1]]
        if 0 < y.sum() < len(y):
            assert got["auc"][i] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        else:
            assert np.isnan(got["auc"][i])
        if y.sum() > 0:
            assert got["mrr"][i] == pytest.approx(mind_mrr(y, s), abs=1e-12)
            assert got["ndcg@5"][i] == pytest.approx(mind_ndcg(y, s, 5), abs=1e-12)
            assert got["ndcg@10"][i] == pytest.approx(mind_ndcg(y, s, 10), abs=1e-12)
        else:
            assert np.isnan(got["mrr"][i]) and np.isnan(got["ndcg@10"][i])


def test_several_clicks_and_a_perfect_ranking():
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.3])
    labels = np.array([1, 1, 0, 0, 1, 0])
    offsets = np.array([0, 3, 6])
    got = impression_metrics(scores, labels, offsets)
    assert got["auc"][0] == 1.0 and got["ndcg@5"][0] == pytest.approx(1.0)
    assert got["mrr"][0] == pytest.approx((1 + 1 / 2) / 2)  # mean over clicked items, not first click
    assert got["mrr"][1] == pytest.approx(1 / 3)
