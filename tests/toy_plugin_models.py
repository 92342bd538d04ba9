"""A deliberately tiny encoder for the plugin tests: the letter counts of a text (a third party's
model as far as recbench knows; it imports it through an entry point)."""

from __future__ import annotations

import numpy as np


class LetterCounts:
    """Bag of letters: knows that texts differ only by accident."""

    name = "toy-letters"
    params = {"alphabet": "a-z"}

    def __init__(self, arg=None, **options):
        pass

    def encode(self, texts, batch_size=32):
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out + 1e-3  # no all-zero row: a cosine is defined for every text
