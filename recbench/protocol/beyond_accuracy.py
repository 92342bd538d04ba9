"""Beyond-accuracy metrics of the full-ranking kinds: what a model's top K shows across the
catalog, not only whether it holds the target.

Computed from the same score blocks as accuracy, with the same tie rule: every figure is its
expected value over a uniformly random order of tied items. A query's top K is then a random
set: the items scored strictly above the K-th score are in it for sure, and the ``g`` items
tied at that score fill the ``m`` slots left, each with probability ``m / g``. Everything below
is exact under that rule (no sampling), so a model that scores every item alike gets random
lists and the coverage of a random recommender, never the coverage of one fixed list.

Per query (a mean over queries with a bootstrap interval, paired in ``compare``):

- ``popularity@K``: mean training count of the listed items (RecBole's AveragePopularity);
- ``novelty@K``: mean ``-log2 p(i)``, ``p(i) = (count + 1) / (interactions + items)`` (Laplace
  smoothed, so an item never seen in training has a finite novelty);
- ``tail_share@K``: the share of listed items outside the head (the top 20% by training count);
- ``ild@K``: intra-list diversity, the mean ``1 - cosine`` over pairs of listed items under one
  fixed reference representation (``DIVERSITY_REFERENCE``), the same for every model so ILD
  compares across rows.

Over the catalog (bootstrap over queries):

- ``coverage@K``: the share of catalog items in at least one query's top K,
  ``mean_i 1 - prod_q (1 - p_qi)`` (RecBole's ItemCoverage, in expectation);
- ``gini@K``: the Gini index of the items' expected exposure (times listed), over every item
  of the catalog, those never listed included (RecBole's GiniIndex).

Quality by the target's popularity (head / torso / tail): ``popularity_bands``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import sparse

from recbench.protocol.metrics import bootstrap_indices, mean_with_ci, percentile_interval

HEAD_SHARE = 0.2  # the head: the top 20% of items by training count (the Pareto share)
TORSO_SHARE = 0.3  # the torso: the next 30%; the tail: the bottom half
CATALOG_BOOTSTRAP = 200  # resamples for the catalog-level intervals (each one re-aggregates every item)
DIVERSITY_REFERENCE = ("tfidf: scikit-learn TfidfVectorizer(sublinear_tf=True, min_df=1, l2 norm) over the "
                       "catalog texts of the dataset's default fields")
BEYOND_RANGES = {r"(coverage|gini|tail_share|ild)@\d+": (0.0, 1.0), r"(popularity|novelty)@\d+": (0.0, float("inf"))}


def head_items(counts: np.ndarray) -> np.ndarray:
    """The head: items whose training count reaches that of the item at the top-20% rank (items
    with equal counts share a side, so the head never depends on how ties were ordered)."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts >= _count_at_share(counts, HEAD_SHARE)


def popularity_bands(counts: np.ndarray) -> np.ndarray:
    """Each item's band by training count: ``head`` (top 20% of items), ``torso`` (the next
    30%), ``tail`` (the rest, unseen items included); equal counts share a band."""
    counts = np.asarray(counts, dtype=np.float64)
    bands = np.full(len(counts), "tail", dtype=object)
    bands[counts >= _count_at_share(counts, HEAD_SHARE + TORSO_SHARE)] = "torso"
    bands[counts >= _count_at_share(counts, HEAD_SHARE)] = "head"
    return bands.astype(str)


def _count_at_share(counts: np.ndarray, share: float) -> float:
    ranked = np.sort(counts)[::-1]
    threshold = float(ranked[max(0, int(np.ceil(share * len(ranked))) - 1)])
    return max(threshold, np.nextafter(0.0, 1.0))  # an unseen item is never in the head or torso


def novelty_of(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    return -np.log2((counts + 1.0) / (counts.sum() + len(counts)))


def gini(exposure: np.ndarray) -> np.ndarray:
    """Gini index of each row of exposure counts over the whole catalog (0: every item listed
    alike; 1 - 1/n: one item takes every slot)."""
    x = np.sort(np.atleast_2d(np.asarray(exposure, dtype=np.float64)), axis=1)
    n = x.shape[1]
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    total = x.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (x * weights).sum(axis=1) / (n * total), 0.0)


def tfidf_reference(texts: Sequence[str]) -> sparse.csr_matrix:
    """The fixed reference representation of ILD (``DIVERSITY_REFERENCE``): unit rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [t if t.strip() else "\u2205" for t in texts]  # an empty text: its own token, not an error
    return TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b\w+\b|\u2205").fit_transform(texts).tocsr()


def top_k_inclusion(scores: np.ndarray, k: int, tolerance: float) -> np.ndarray:
    """P(item in the query's top k) for each row of scores (excluded items at -inf), under a
    random order of the items tied at the k-th score (within ``tolerance``, relative)."""
    n_rows, n_items = scores.shape
    finite = np.isfinite(scores)
    k_row = np.minimum(k, finite.sum(axis=1))
    p = np.zeros(scores.shape, dtype=np.float64)
    if n_items == 0:
        return p
    kth = -np.partition(-scores, min(k, n_items) - 1, axis=1)[:, min(k, n_items) - 1]
    # whole-block arithmetic, row by row in effect: the tie band around each row's k-th score
    listing = k_row > 0
    short = listing & ~np.isfinite(kth)  # fewer than k items are not excluded: every one is listed
    p[short] = finite[short]
    rows = listing & np.isfinite(kth)
    if rows.any():
        sub, t, k_sub = scores[rows], kth[rows][:, None], k_row[rows][:, None]
        with np.errstate(invalid="ignore"):  # -inf - -inf never arises: t is finite here
            tol = tolerance * np.maximum(1.0, np.abs(t))
            above = sub > t + tol
            tied = np.isfinite(sub) & ~above & (sub >= t - tol)
        share = (k_sub - above.sum(axis=1, keepdims=True)) / np.maximum(tied.sum(axis=1, keepdims=True), 1)
        p[rows] = np.where(above, 1.0, np.where(tied, share, 0.0))
    return p


@dataclass
class BeyondAccuracy:
    """Accumulates the top-K inclusion of every query, block by block, at each cutoff."""

    n_items: int
    cutoffs: Sequence[int]
    tolerance: float
    counts: np.ndarray | None = None  # training counts per item (None: no popularity metrics)
    reference: sparse.csr_matrix | None = None  # ILD's unit item rows (None: no ILD)
    _inclusion: dict[int, list[sparse.csr_matrix]] = field(default_factory=dict)
    _per_query: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, scores: np.ndarray) -> None:
        """One block of query rows' scores, excluded items already at -inf."""
        for k in self.cutoffs:
            p = top_k_inclusion(scores, k, self.tolerance)
            self._inclusion.setdefault(k, []).append(sparse.csr_matrix(p))
            listed = p.sum(axis=1)
            for name, values in self._list_means(p, listed, k).items():
                self._per_query.setdefault(f"{name}@{k}", []).append(values)

    def _list_means(self, p: np.ndarray, listed: np.ndarray, k: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.counts is not None:
                counts = np.asarray(self.counts, dtype=np.float64)
                out["popularity"] = p @ counts / listed
                out["novelty"] = p @ novelty_of(counts) / listed
                out["tail_share"] = p @ (~head_items(counts)).astype(np.float64) / listed
            if self.reference is not None:
                out["ild"] = expected_ild(p, self.reference)
        return out

    def per_query(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(parts) for name, parts in self._per_query.items()}

    def catalog_metrics(self, n_boot: int, seed: int) -> dict[str, dict[str, float]]:
        """coverage@K and gini@K with percentile intervals over resampled queries."""
        out: dict[str, dict[str, float]] = {}
        for k, blocks in self._inclusion.items():
            inclusion = sparse.vstack(blocks).tocsr()
            n_queries = inclusion.shape[0]
            if n_queries == 0:
                continue
            # log(1 - p), with a certain inclusion as a large negative (exp gives 0)
            miss = inclusion.copy()
            sure = miss.data >= 1.0
            miss.data = np.where(sure, -700.0, np.log1p(-np.where(sure, 0.0, miss.data)))
            idx = bootstrap_indices(n_queries, min(n_boot, CATALOG_BOOTSTRAP), seed)
            weights = sparse.csr_matrix((np.ones(idx.size), (np.repeat(np.arange(len(idx)), n_queries),
                                                             idx.ravel())), shape=(len(idx), n_queries))
            coverage_b = (1.0 - np.exp((weights @ miss).toarray())).mean(axis=1)
            gini_b = gini((weights @ inclusion).toarray())
            coverage = float((1.0 - np.exp(np.asarray(miss.sum(axis=0)).ravel())).mean())
            exposure = np.asarray(inclusion.sum(axis=0)).ravel()
            for name, value, boots in ((f"coverage@{k}", coverage, coverage_b),
                                       (f"gini@{k}", float(gini(exposure)[0]), gini_b)):
                out[name] = {**shifted_interval(value, np.asarray(boots)), "n": n_queries}
        return out

    def metrics(self, n_boot: int, seed: int) -> dict[str, dict[str, float]]:
        out = self.catalog_metrics(n_boot, seed)
        for name, values in self.per_query().items():
            out[name] = mean_with_ci(values, n_boot, seed)
        return out


def shifted_interval(value: float, boots: np.ndarray) -> dict[str, float]:
    """A percentile interval of the resamples moved by their bias: a resample of queries repeats
    some and misses others, so it reaches fewer items (coverage biased down, Gini up); the
    interval is centred on the estimate instead, clipped to [0, 1]."""
    lo, hi = percentile_interval(boots - (np.mean(boots) - value))
    return {"value": value, "ci_low": float(np.clip(min(lo, value), 0.0, 1.0)),
            "ci_high": float(np.clip(max(hi, value), 0.0, 1.0))}


def expected_ild(p: np.ndarray, reference: sparse.csr_matrix) -> np.ndarray:
    """E[mean 1 - cos over pairs of a list] for each row of inclusion probabilities.

    With unit rows, the cosines summed over pairs of a set S are (|sum_S u|^2 - |S|) / 2, so the
    expectation splits into the sure items C, the tied items T (each in with q = m / g) and the
    pairs across them: E = pairs(C) + q (sum_C u . sum_T u) + m(m-1)/(g(g-1)) pairs(T). A list of
    one item has no pair: NaN (left out of the mean)."""
    sure = (p >= 1.0).astype(np.float64)
    tied = ((p > 0) & (p < 1.0)).astype(np.float64)
    size_c, g = sure.sum(axis=1), tied.sum(axis=1)
    q = np.where(g > 0, (p * tied).sum(axis=1) / np.maximum(g, 1), 0.0)
    m = q * g
    norms = np.asarray(reference.multiply(reference).sum(axis=1)).ravel()  # 1, or 0 for an empty row
    sum_c = sparse.csr_matrix(sure) @ reference
    sum_t = sparse.csr_matrix(tied) @ reference
    sq_c = np.asarray(sum_c.multiply(sum_c).sum(axis=1)).ravel()
    sq_t = np.asarray(sum_t.multiply(sum_t).sum(axis=1)).ravel()
    cross = np.asarray(sum_c.multiply(sum_t).sum(axis=1)).ravel()
    pairs_c = (sq_c - sure @ norms) / 2.0
    pairs_t = (sq_t - tied @ norms) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        both_tied = np.where(g > 1, m * (m - 1) / (g * (g - 1)), 0.0)
        expected_cos = pairs_c + q * cross + both_tied * pairs_t
        size = size_c + m
        n_pairs = size * (size - 1) / 2.0
        return np.where(n_pairs > 0, 1.0 - expected_cos / np.where(n_pairs > 0, n_pairs, 1.0), np.nan)
