import numpy as np
import pytest
from scipy import stats

from recbench.protocol.metrics import pearson, percentile_interval, spearman


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correlations_match_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 6, size=300).astype(float)  # many ties, like STS's 0-5 scores
    pred = gold + rng.normal(0, 2, size=300)
    pred[:40] = np.round(pred[:40])  # ties in the prediction too
    assert spearman(pred, gold) == pytest.approx(stats.spearmanr(pred, gold).statistic, abs=1e-12)
    assert pearson(pred, gold) == pytest.approx(stats.pearsonr(pred, gold).statistic, abs=1e-12)


def test_batched_rows_match_scipy_row_by_row():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 50))
    y = x + rng.normal(size=(20, 50))
    got = spearman(x, y)
    want = [stats.spearmanr(a, b).statistic for a, b in zip(x, y)]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_pairs_protocol_interval_is_seeded_and_agrees_with_scipy():
    """Through the production path (the pairs protocol): an encoder that puts text a_i at angle 0
    and b_i at arccos(p_i) gives cosines p_i, so its Spearman and interval are those of (p, gold)."""
    from recbench.protocol.settings import EvalSettings
    from recbench.protocol.kinds.base import evaluate
    from recbench.protocol.kinds.tasks import PairsTask

    rng = np.random.default_rng(4)
    gold = rng.normal(size=500)
    pred = np.tanh(gold + rng.normal(size=500)) * 0.99
    angle = {f"a{i}": 0.0 for i in range(500)} | {f"b{i}": float(np.arccos(p)) for i, p in enumerate(pred)}

    class Angles:
        name, params = "angles", {}

        def encode(self, texts, batch_size=32):
            a = np.array([angle[t] for t in texts])
            return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)

    task = PairsTask(name="t", split="test", texts_a=[f"a{i}" for i in range(500)],
                     texts_b=[f"b{i}" for i in range(500)], gold=gold)
    settings = EvalSettings(n_bootstrap=300, seed=7, latency_queries=0, offline_texts=0, progress=False)
    a = evaluate(Angles(), task, settings).metrics["spearman"]
    b = evaluate(Angles(), task, settings).metrics["spearman"]
    assert a == b
    assert a["value"] == pytest.approx(stats.spearmanr(pred, gold).statistic * 100, abs=1e-3)
    assert a["ci_low"] < a["value"] < a["ci_high"]
    # the interval agrees with scipy's own percentile bootstrap to within Monte-Carlo noise
    ref = stats.bootstrap((pred, gold), lambda p, g: stats.spearmanr(p, g).statistic * 100, paired=True,
                          vectorized=False, n_resamples=300, method="percentile", random_state=0)
    assert a["ci_low"] == pytest.approx(ref.confidence_interval.low, abs=2.0)
    assert a["ci_high"] == pytest.approx(ref.confidence_interval.high, abs=2.0)

def test_percentile_interval_ignores_nan():
    lo, hi = percentile_interval(np.array([np.nan, 1.0, 2.0, 3.0]))
    assert 1.0 <= lo < hi <= 3.0


def test_scores_one_rounding_error_apart_are_one_tie():
    """Identical item vectors may get scores that differ in the last bits of a matrix product;
    they are still one tie, so the rule does not depend on the BLAS build or catalog order."""
    from recbench.protocol.kinds.ranking import relevant_tie_counts

    s = np.float32(0.731)
    row = np.array([[s, np.nextafter(s, np.float32(1)), np.nextafter(s, np.float32(0)), 0.5, 0.9]], dtype=np.float32)
    higher, tied = relevant_tie_counts(lambda rows: row[rows], 1, np.array([0]), np.array([0, 1]),
                                       np.zeros(0, dtype=np.int64), np.array([0, 0]))
    assert (higher[0], tied[0]) == (1, 2)  # 0.9 above; the two neighbours beside it
