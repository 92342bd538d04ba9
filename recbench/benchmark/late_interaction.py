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
