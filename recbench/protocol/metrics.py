"""Pure numpy metrics with seeded bootstrap intervals.

Tests check every metric here against an independent reference (scipy, scikit-learn).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r along the last axis (a batch of rows works too)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    num = (xc * yc).sum(axis=-1)
    den = np.sqrt((xc * xc).sum(axis=-1) * (yc * yc).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho = Pearson's r of average ranks (ties share their mean rank)."""
    from scipy.stats import rankdata  # here, not at import: scipy.stats alone takes 0.6 s to import

    return pearson(rankdata(x, axis=-1), rankdata(y, axis=-1))


CORRELATIONS = {"spearman": spearman, "pearson": pearson}


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resampling indices; one seeded draw shared by every metric of a run."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


# --- impression ranking metrics (MIND's official scorer, vectorised) ---------------------
# MIND's evaluate.py scores one impression at a time: AUC with sklearn's roc_auc_score (tied
# scores count one half), MRR = sum over clicked items of 1/rank divided by the clicks, and
# nDCG@k with gain 2^label - 1 and discount log2(rank + 1). Its ranks come from
# ``np.argsort(score)[::-1]``: among tied scores the candidate listed *later* ranks first; we
# reproduce that exactly (a stable sort, reversed). Every function below takes all
# impressions at once as flat arrays plus ``offsets`` (impression i is
# ``offsets[i]:offsets[i+1]``) and returns one value per impression: NaN where the metric is
# undefined (AUC without both a click and a non-click; MRR/nDCG without a click).


def segment_ids(offsets: np.ndarray) -> np.ndarray:
    lengths = np.diff(offsets)
    return np.repeat(np.arange(len(lengths)), lengths)


def mind_order(scores: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate positions in MIND's rank order: impression by impression, score descending, a
    tie won by the candidate listed later (its scorer sorts the reversed list stably). Returns
    (order, impression of each sorted position, 1-based rank within the impression).

    Two stable sorts instead of a three-key lexsort: by score over the reversed array (so a
    tie keeps the later candidate first), then by impression."""
    n = len(scores)
    seg = segment_ids(offsets)
    by_score = n - 1 - np.argsort(-scores[::-1], kind="stable")
    order = by_score[np.argsort(seg[by_score], kind="stable")]
    seg_sorted = seg  # impressions are contiguous, so sorted positions follow the same segments
    rank = np.arange(n) - offsets[seg_sorted] + 1
    return order, seg_sorted, rank


def _ideal_dcg(labels: np.ndarray, offsets: np.ndarray, k: int, n_imp: int) -> np.ndarray:
    """DCG@k of each impression's best order: a closed form for click labels (the first
    min(clicks, k) ranks score), a sort for graded labels."""
    seg = segment_ids(offsets)
    if np.all((labels == 0) | (labels == 1)):
        clicks = np.bincount(seg, weights=labels, minlength=n_imp).astype(np.int64)
        table = np.r_[0.0, np.cumsum(1.0 / np.log2(np.arange(1, k + 1) + 1.0))]
        return table[np.minimum(clicks, k)]
    order, seg_sorted, rank = mind_order(labels, offsets)
    disc = np.where(rank <= k, 1.0 / np.log2(rank + 1.0), 0.0)
    return np.bincount(seg_sorted, weights=(2.0 ** labels[order] - 1.0) * disc, minlength=n_imp)


def impression_metrics(scores: np.ndarray, labels: np.ndarray, offsets: np.ndarray,
                       cutoffs: Sequence[int] = (5, 10)) -> dict[str, np.ndarray]:
    """Per-impression AUC, MRR and nDCG at each cutoff (MIND's: 5 and 10) as MIND's scorer defines
    them (AUC: ties count one half, as scikit-learn's roc_auc_score; MRR and nDCG: MIND's rank
    order), all from one sort of the scores. NaN where a metric is undefined (no click; AUC: one class)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.int64)
    n_imp = len(offsets) - 1
    if len(scores) == 0:  # no candidate at all (a part of the candidates that these impressions lack)
        return {name: np.full(n_imp, np.nan) for name in ("auc", "mrr", *(f"ndcg@{k}" for k in cutoffs))}
    order, seg, rank = mind_order(scores, offsets)
    y = labels[order]
    clicks = np.bincount(seg, weights=y, minlength=n_imp)
    sizes = np.diff(offsets)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        # AUC by ranks: ascending rank = size - rank + 1, averaged over each tie group
        s_sorted = scores[order]
        new_group = np.ones(len(order), dtype=bool)
        new_group[1:] = (seg[1:] != seg[:-1]) | (s_sorted[1:] != s_sorted[:-1])
        group = np.cumsum(new_group) - 1
        first = np.flatnonzero(new_group)
        last = np.r_[first[1:], len(order)] - 1
        ascending = sizes[seg] - rank + 1
        avg_rank = ((ascending[first] + ascending[last]) / 2.0)[group]
        rank_sum = np.bincount(seg, weights=avg_rank * y, minlength=n_imp)
        negatives = sizes - clicks
        auc = (rank_sum - clicks * (clicks + 1) / 2.0) / (clicks * negatives)
        auc[(clicks == 0) | (negatives == 0)] = np.nan
        out["auc"] = auc
        mrr = np.bincount(seg, weights=y / rank, minlength=n_imp) / clicks
        mrr[clicks == 0] = np.nan
        out["mrr"] = mrr
        gains = 2.0 ** y - 1.0
        for k in cutoffs:
            dcg = np.bincount(seg, weights=np.where(rank <= k, gains / np.log2(rank + 1.0), 0.0), minlength=n_imp)
            idcg = _ideal_dcg(labels, offsets, k, n_imp)
            ndcg = dcg / idcg
            ndcg[idcg == 0] = np.nan
            out[f"ndcg@{k}"] = ndcg
    return out


def mean_with_ci(values: np.ndarray, n_boot: int, seed: int, scale: float = 1.0) -> dict[str, float]:
    """Mean over the defined (non-NaN) per-query values, with a percentile bootstrap interval
    over queries."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0}
    idx = bootstrap_indices(values.size, n_boot, seed)
    boots = values[idx].mean(axis=1) * scale
    lo, hi = percentile_interval(boots)
    return {"value": float(values.mean() * scale), "ci_low": lo, "ci_high": hi, "n": int(values.size)}


# --- full-ranking metrics under random tie-breaking --------------------------------------
# A full ranking (item-to-item, sequences) must not let a tie flatter the relevant item: a
# model that scores every item alike would otherwise rank every relevant item first. Each
# metric below is its *expected value when tied items are put in a uniformly random order*
# (McSherry & Najork 2008; scikit-learn's ``ndcg_score(ignore_ties=False)`` for DCG). It is
# exact, needs no seed, and a constant model scores exactly what a random ranking scores.
# Input per relevant (query, item) pair: ``higher`` = catalog items scored strictly above it,
# ``tied`` = other catalog items with exactly its score (other relevant ones included).


def expected_discount(higher: np.ndarray, tied: np.ndarray, k: int) -> np.ndarray:
    """E[1/log2(rank + 1) if rank <= k else 0] for a rank uniform on higher+1 .. higher+tied+1."""
    cum = np.r_[0.0, np.cumsum(1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64)))]  # cum[r]: ranks 1..r
    top = np.minimum(higher + tied + 1, k)
    low = np.minimum(higher, k)
    single = np.where(higher < k, 1.0 / np.log2(higher + 2.0), 0.0)  # no tie: the discount itself, exactly
    return np.where(tied == 0, single, (cum[top] - cum[low]) / (tied + 1.0))


def _first_relevant_group(higher: np.ndarray, tied: np.ndarray, q: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Per query, the tie group of its best-scored relevant items: items strictly above it (s),
    the group's size (m) and how many relevant items it holds (j). Relevant items with the
    same count of strictly higher items have the same score, so they share a group."""
    s = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(s, q, higher)
    top = higher == s[q]
    m = np.zeros(n, dtype=np.int64)
    np.maximum.at(m, q[top], tied[top] + 1)
    j = np.bincount(q[top], minlength=n)
    return s, m, j


def _harmonic(x: np.ndarray) -> np.ndarray:
    from scipy.special import digamma

    return digamma(np.asarray(x, dtype=np.float64) + 1.0) + np.euler_gamma


def expected_ranking_metrics(higher: np.ndarray, tied: np.ndarray, offsets: np.ndarray,
                             grades: np.ndarray | None = None, k: int = 10) -> dict[str, np.ndarray]:
    """Per-query MRR (first relevant item), HR@k (a relevant item in the top k) and nDCG@k
    (gain 2^grade - 1, ideal from the query's own grades), each the expectation over a random
    order of tied items; NaN for a query without relevant items.

    nDCG: by linearity each relevant item's discount is averaged over its tie group's
    positions. MRR and HR depend on the first relevant item only: it lies in the best group
    holding one (s items above, m items in it, j of them relevant); its position p in that
    group has P(p) = C(m-p, j-1) / C(m, j)."""
    from scipy.special import gammaln  # imported on use: scipy at import time slows every start

    higher = np.asarray(higher, dtype=np.int64)
    tied = np.asarray(tied, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    grades = np.ones(len(higher)) if grades is None else np.asarray(grades, dtype=np.float64)
    q = np.repeat(np.arange(n), np.diff(offsets))
    has = np.diff(offsets) > 0
    gains = 2.0 ** grades - 1.0
    dcg = np.bincount(q, weights=gains * expected_discount(higher, tied, k), minlength=n)
    order = np.lexsort((-gains, q))  # ideal DCG: each query's gains, descending, first k positions
    pos = np.arange(len(order)) - offsets[q[order]]
    idcg = np.bincount(q[order], weights=np.where(pos < k, gains[order] / np.log2(pos + 2.0), 0.0), minlength=n)

    s, m, j = _first_relevant_group(higher, tied, q, n)
    s, m, j = np.where(has, s, 0), np.where(has, m, 1), np.where(has, j, 1)
    # HR@k = 1 - P(none of the j relevant items among the group's first q = k - s positions)
    first = np.clip(k - s, 0, m)
    room = m - first >= j
    with np.errstate(invalid="ignore", divide="ignore"):
        log_miss = (gammaln(m - first + 1.0) - gammaln(np.maximum(m - first - j, 0) + 1.0)
                    - gammaln(m + 1.0) + gammaln(m - j + 1.0))
    hr = np.where(j == 1, first / m, 1.0 - np.where(room, np.exp(log_miss), 0.0))  # j == 1: exact
    # MRR: j == 1 is a uniform position, E[1/(s+p)] = (H(s+m) - H(s)) / m; j > 1 sums over p
    mrr = (_harmonic(s + m) - _harmonic(s)) / m
    for i in np.flatnonzero(has & (j > 1)):
        p = np.arange(1, m[i] - j[i] + 2, dtype=np.float64)
        log_p = (gammaln(m[i] - p + 1.0) - gammaln(float(j[i])) - gammaln(m[i] - p - j[i] + 2.0)
                 - gammaln(m[i] + 1.0) + gammaln(j[i] + 1.0) + gammaln(m[i] - j[i] + 1.0))
        mrr[i] = float(np.sum(np.exp(log_p) / (s[i] + p)))
    with np.errstate(invalid="ignore", divide="ignore"):  # dcg <= idcg; the clip removes only rounding
        ndcg = np.where(has & (idcg > 0), np.minimum(dcg / idcg, 1.0), np.nan)
    return {"mrr": np.where(has, mrr, np.nan), f"hr@{k}": np.where(has, hr, np.nan), f"ndcg@{k}": ndcg}
