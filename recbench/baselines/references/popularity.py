"""Popularity: items ranked by how often they were engaged in the task's training data
(clicks in an impressions train split; occurrences in the training part of sequences).

Items never clicked score 0; ties (between equally clicked items) are broken by a seeded
shuffle, so the ranking is reproducible and never favours list position."""

from __future__ import annotations

from typing import Any

import numpy as np

from recbench.protocol.registry import baselines


@baselines.register("popularity")
class Popularity:
    name = "popularity"
    floor = True  # knows nothing of the task: the board marks it as a floor

    def __init__(self, arg: str | None = None, seed: int = 0) -> None:
        self.seed = int(seed)
        self.scores: np.ndarray | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "counts": "clicks in the train split"}

    def fit_counts(self, counts: np.ndarray | None) -> None:
        if counts is None:
            raise ValueError("popularity needs engagement counts, and this dataset has no interactions to count")
        counts = np.asarray(counts, dtype=np.float64)
        n_items = len(counts)
        tiebreak = np.random.default_rng(self.seed).permutation(n_items) / (n_items + 1.0)  # in [0, 1)
        self.scores = counts + tiebreak

    def score_items(self, rows: np.ndarray) -> np.ndarray:
        if self.scores is None:
            raise RuntimeError("popularity: fit_counts must run before score_items")
        return self.scores[rows]
