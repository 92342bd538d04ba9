"""Turning an encoder into a ranker: a user profile pooled from history embeddings, and the
cosine between it and each candidate.

- ``mean``: cosine between the candidate and the mean of the (unit) history vectors.
- ``topk``: mean of the k highest cosines between the candidate and single history items
  (a user with varied interests is matched on the closest ones).
- ``mix``: ``mix_weight * topk + (1 - mix_weight) * mean`` (default 0.5 each).
An empty history has no profile: every candidate scores 0 (a tie).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbench.protocol.stages import stage

POOLINGS = ("mean", "topk", "mix")


@dataclass(frozen=True)
class Pooling:
    kind: str = "mean"
    k: int = 3
    mix_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in POOLINGS:
            raise ValueError(f"impressions pool histories by {', '.join(POOLINGS)}, not {self.kind!r}")
        if self.k < 1:
            raise ValueError(f"top-k pooling needs k >= 1, not {self.k}")

    def describe(self) -> dict:
        return {"pooling": self.kind, **({"k": self.k} if self.kind != "mean" else {}),
                **({"mix_weight": self.mix_weight} if self.kind == "mix" else {})}


def unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def score_one(unit: np.ndarray, history: np.ndarray, candidates: np.ndarray, pooling: Pooling) -> np.ndarray:
    """Scores of one impression's candidates; ``unit`` holds unit-length item vectors. On the
    serving path: its ``pool`` (the profile) and ``score`` (candidates against it) are stages."""
    if len(history) == 0:
        return np.zeros(len(candidates), dtype=np.float32)
    cand = unit[candidates]
    hist = unit[history]
    mean_score = None
    if pooling.kind in ("mean", "mix"):
        with stage("pool"):
            profile = hist.mean(axis=0)
            norm = np.linalg.norm(profile)
        with stage("score"):
            mean_score = cand @ (profile / norm) if norm > 0 else np.zeros(len(candidates), dtype=np.float32)
        if pooling.kind == "mean":
            return mean_score
    with stage("score"):
        sims = cand @ hist.T  # (candidates, history)
        k = min(pooling.k, sims.shape[1])
        top = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)
    if pooling.kind == "topk":
        return top
    return pooling.mix_weight * top + (1.0 - pooling.mix_weight) * mean_score


def score_all(unit: np.ndarray, imps, pooling: Pooling) -> np.ndarray:
    """Scores of every candidate of every impression, aligned with ``imps.candidates``.
    Mean pooling is one sparse product for all impressions; top-k needs each impression's
    (candidates x history) block and loops over impressions."""
    n = len(imps)
    if pooling.kind == "mean":
        lengths = np.diff(imps.history_offsets)
        import scipy.sparse as sp

        m = sp.csr_matrix(
            (np.ones(len(imps.history), dtype=np.float32), imps.history, imps.history_offsets),
            shape=(n, unit.shape[0]),
        )
        profiles = unit_rows(np.asarray(m @ unit, dtype=np.float32))
        owner = np.repeat(np.arange(n), np.diff(imps.candidate_offsets))
        scores = np.einsum("ij,ij->i", unit[imps.candidates], profiles[owner])
        scores[lengths[owner] == 0] = 0.0
        return scores
    out = np.empty(len(imps.candidates), dtype=np.float32)
    for i in range(n):
        lo, hi = imps.candidate_offsets[i], imps.candidate_offsets[i + 1]
        out[lo:hi] = score_one(unit, imps.history_of(i), imps.candidates[lo:hi], pooling)
    return out
