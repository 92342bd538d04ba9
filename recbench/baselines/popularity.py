"""Popularity: candidates ranked by how often they were clicked in the train split.

Items never clicked score 0; ties (between equally clicked items) are broken by a seeded
shuffle, so the ranking is reproducible and never favours list position."""

from __future__ import annotations

from typing import Any

import numpy as np

from recbench.benchmark.registry import baselines


@baselines.register("popularity")
class Popularity:
    name = "popularity"

    def __init__(self, arg: str | None = None, seed: int = 0) -> None:
        self.seed = int(seed)
        self.scores: np.ndarray | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "counts": "clicks in the train split"}

    def fit_clicks(self, impressions: Any, n_items: int) -> None:
        clicked = impressions.candidates[impressions.labels == 1]
        counts = np.bincount(clicked, minlength=n_items).astype(np.float64)
        tiebreak = np.random.default_rng(self.seed).permutation(n_items) / (n_items + 1.0)  # in [0, 1)
        self.scores = counts + tiebreak

    def score_items(self, rows: np.ndarray) -> np.ndarray:
        if self.scores is None:
            raise RuntimeError("popularity needs a train split to count clicks on; this dataset has none")
        return self.scores[rows]
