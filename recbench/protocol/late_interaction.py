"""Late interaction (ColBERT's MaxSim) for every task kind, on token vectors from a
TokenEncoder. Token vectors are unit length, so a dot product is a cosine.

- pairs: symmetric MaxSim, ``(mean_a max_b + mean_b max_a) / 2`` over both texts' document
  tokens (a mean rather than ColBERT's sum, so that text length does not move the score);
- impressions and sequences: each candidate's tokens against all of the user's history
  tokens together (the seed's "Bi-Encoder + ColBERT"): the mean over candidate tokens of the
  best cosine with any history token;
- item-to-item: ColBERT proper, the query's tokens (query mode, [MASK]-augmented) against
  each item's document tokens, summed over query tokens.
Where the catalog is larger than the model's ``rerank_depth``, a dense first stage (the
model's own ``encode``) picks the top ``rerank_depth`` items, MaxSim re-orders them, and the
rest keep their dense order below them.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from recbench.protocol.indexes import excluded_of

RERANKED = 100.0  # lifts re-ranked items above every dense-only score (cosines lie in [-1, 1]; a MaxSim sum over 32 query tokens in [-32, 32])


def token_bytes_per_item(tokens: Sequence[np.ndarray]) -> float:
    """What late interaction stores per item: every token vector, float32."""
    return float(np.mean([t.size * 4 for t in tokens])) if len(tokens) else 0.0


def maxsim_mean(q: np.ndarray, d: np.ndarray) -> float:
    if len(q) == 0 or len(d) == 0:
        return 0.0
    return float((q @ d.T).max(axis=1).mean())


def maxsim_sum(q: np.ndarray, d: np.ndarray) -> float:
    if len(q) == 0 or len(d) == 0:
        return 0.0
    return float((q @ d.T).max(axis=1).sum())


class TokenTable:
    """Every item's token vectors in one matrix (item i's rows: ``offsets[i]:offsets[i + 1]``),
    so that MaxSim of a query against many items is one matrix product and one segmented max
    instead of a Python call per item: exact, and fast enough to score the whole catalog
    (``-o rerank_depth`` at least the catalog's size)."""

    def __init__(self, tokens: Sequence[np.ndarray]) -> None:
        self.lengths = np.array([len(t) for t in tokens], dtype=np.int64)
        self.offsets = np.r_[0, np.cumsum(self.lengths)]
        dim = next((t.shape[1] for t in tokens if t.ndim == 2), 1)
        kept = [t for t in tokens if len(t)]
        self.flat = np.ascontiguousarray(np.concatenate(kept), dtype=np.float32) if kept else np.zeros((0, dim), np.float32)

    def maxsim_sum(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """ColBERT's score of each item in ``rows``: the sum over query tokens of the best cosine
        with any of the item's tokens (0 for an empty query or item), as :func:`maxsim_sum`."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(query) == 0 or len(rows) == 0:
            return np.zeros(len(rows), dtype=np.float32)
        if len(rows) >= len(self.lengths) // 4:  # most of the catalog: one product with every token
            return _segment_max(query @ self.flat.T, self.lengths).sum(axis=0)[rows]
        lengths = self.lengths[rows]
        starts = self.offsets[rows]
        token_rows = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(lengths.sum())
        return _segment_max(query @ self.flat[token_rows].T, lengths).sum(axis=0)


class TokenCandidates:
    """ColBERT's own first stage: every document token in a faiss IVF index; each query token
    fetches its ``per_token`` nearest document tokens, and the documents that own them are the
    candidates exact MaxSim then scores (Khattab & Zaharia, section 3.6). Approximate: a
    document none of whose tokens is near a query token is never scored."""

    def __init__(self, table: TokenTable, per_token: int = 32, nprobe: int = 16, seed: int = 0) -> None:
        import faiss

        self.table, self.per_token = table, int(per_token)
        self.owner = np.repeat(np.arange(len(table.lengths)), table.lengths)
        n, d = table.flat.shape
        self.nlist = int(max(1, min(1024, n // 64)))
        quantizer = faiss.IndexFlatIP(d)
        self.index = faiss.IndexIVFFlat(quantizer, d, self.nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(seed).choice(n, size=min(n, 64 * self.nlist), replace=False)
        self.index.train(np.ascontiguousarray(table.flat[np.sort(sample)]))
        self.index.add(table.flat)
        self.index.nprobe = self.nprobe = min(int(nprobe), self.nlist)

    def __call__(self, query: np.ndarray) -> np.ndarray:
        """Catalog rows with a token among some query token's nearest document tokens."""
        if len(query) == 0 or len(self.owner) == 0:
            return np.zeros(0, dtype=np.int64)
        _, hits = self.index.search(np.ascontiguousarray(query, dtype=np.float32), self.per_token)
        return np.unique(self.owner[hits[hits >= 0]])

    def describe(self) -> dict[str, Any]:
        return {"kind": "document tokens in faiss IVF", "per_query_token": self.per_token, "nlist": self.nlist,
                "nprobe": self.nprobe, "tokens": int(len(self.owner))}


def _segment_max(sims: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(q, tokens) similarities -> (q, segments): the max over each segment's columns, 0 where a
    segment is empty."""
    out = np.zeros((sims.shape[0], len(lengths)), dtype=np.float32)
    nonempty = lengths > 0
    if nonempty.any():
        starts = np.r_[0, np.cumsum(lengths)[:-1]][nonempty]
        out[:, nonempty] = np.maximum.reduceat(sims, starts, axis=1)
    return out


def symmetric_maxsim(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * (maxsim_mean(a, b) + maxsim_mean(b, a))


def candidates_vs_history(tokens: Sequence[np.ndarray], history: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Score of each candidate item: mean over its tokens of the best cosine with any token
    of any history item; an empty history scores 0."""
    if len(history) == 0:
        return np.zeros(len(candidates), dtype=np.float32)
    h = np.concatenate([tokens[r] for r in history])
    cand = [tokens[r] for r in candidates]
    lengths = np.array([len(c) for c in cand])
    if lengths.sum() == 0:
        return np.zeros(len(candidates), dtype=np.float32)
    best = (np.concatenate(cand) @ h.T).max(axis=1)
    sums = np.add.reduceat(best, np.r_[0, np.cumsum(lengths)[:-1]]) if len(best) else np.zeros(len(cand))
    return np.where(lengths > 0, sums / np.maximum(lengths, 1), 0.0).astype(np.float32)


def rerank_block(dense: np.ndarray, depth: int, late: Any) -> np.ndarray:
    """``dense``: (queries, items) first-stage scores; ``late(q, rows)`` gives MaxSim scores
    of catalog ``rows`` for query ``q``. Returns scores whose order is the re-ranked one."""
    out = dense.astype(np.float32, copy=True)
    n_items = dense.shape[1]
    depth = min(depth, n_items)
    for j in range(dense.shape[0]):
        rows = np.argpartition(-dense[j], depth - 1)[:depth] if depth < n_items else np.arange(n_items)
        out[j, rows] = RERANKED + np.asarray(late(j, rows), dtype=np.float32)
    return out


def exact_maxsim_recall(score_block: Any, table: TokenTable, q_tokens: Sequence[np.ndarray], excluded: np.ndarray,
                        excluded_offsets: np.ndarray, n_queries: int, sample: int = 200) -> float:
    """How much of the exact top 10 (MaxSim over the whole catalog) a first stage keeps: the
    mean share of it in the served top 10, over up to ``sample`` queries spread evenly."""
    picks = np.linspace(0, n_queries - 1, min(sample, n_queries)).astype(int)
    if not len(picks):
        return 1.0
    served = np.asarray(score_block(picks), dtype=np.float32)
    shares = []
    for j, i in enumerate(picks):
        skip = excluded_of(excluded, excluded_offsets, i)
        exact = table.maxsim_sum(q_tokens[i], np.arange(len(table.lengths)))
        exact[skip] = -np.inf
        got = served[j].copy()
        got[skip] = -np.inf
        truth = np.argsort(-exact, kind="stable")[:10]
        shares.append(len(np.intersect1d(np.argsort(-got, kind="stable")[:10], truth)) / max(1, len(truth)))
    return float(np.mean(shares))
