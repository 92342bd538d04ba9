"""The floor of every table: seeded noise.

On pairs it is an encoder (a random vector per distinct text); on impressions it scores each
shown candidate with independent noise, so that not even a repeated item or a duplicated text
gives it an edge: its AUC is 0.5 up to sampling error."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from recbench.protocol.registry import baselines


@baselines.register("random")
class RandomEncoder:
    """Each text gets a Gaussian vector drawn from a generator seeded by (seed, text): the
    same text always gets the same vector, whatever the batch or order, so a pair of equal
    texts still scores 1. Expected correlation with any gold score: 0."""

    name = "random"
    floor = True  # knows nothing of the task: the board marks it as a floor

    def __init__(self, arg: str | None = None, seed: int = 0, dim: int = 64) -> None:
        self.seed = int(seed)
        self.dim = int(dim)
        self._noise = np.random.default_rng([self.seed, 1])

    @property
    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "dim": self.dim}

    def fit_counts(self, counts: np.ndarray | None) -> None:
        """Nothing to learn; present so that the impressions protocol scores with pure noise."""

    def score_items(self, rows: np.ndarray) -> np.ndarray:
        """Fresh noise on every call: reproducible for a given seed and order of calls."""
        return self._noise.random(len(rows))

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            digest = hashlib.blake2b(f"{self.seed}\x00{text}".encode(), digest_size=8).digest()
            out[i] = np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(self.dim)
        return out
