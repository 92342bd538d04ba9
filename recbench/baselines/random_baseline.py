"""The floor of every table: a seeded random vector per distinct text."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from recbench.benchmark.registry import baselines


@baselines.register("random")
class RandomEncoder:
    """Each text gets a Gaussian vector drawn from a generator seeded by (seed, text): the
    same text always gets the same vector, whatever the batch or order, so a pair of equal
    texts still scores 1. Expected correlation with any gold score: 0."""

    name = "random"

    def __init__(self, arg: str | None = None, seed: int = 0, dim: int = 64) -> None:
        self.seed = int(seed)
        self.dim = int(dim)

    @property
    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "dim": self.dim}

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            digest = hashlib.blake2b(f"{self.seed}\x00{text}".encode(), digest_size=8).digest()
            out[i] = np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(self.dim)
        return out
