"""The BM25 baseline (issue 37): Lucene's BM25 by the maintained bm25s package, checked against the
formula written out by hand; a query that repeats an item's text ranks that item first; pairs are
not among its kinds."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from recbench.api import baselines, supports

CORPUS = ["apple banana cherry", "banana banana durian", "cherry elderberry fig grape", "apple fig"]


def lucene_bm25(query: list[str], docs: list[list[str]], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Lucene's BM25 (since Lucene 8: no (k1 + 1) factor in the numerator, which orders nothing
    differently): idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf / (tf + k1 (1 - b + b dl / avgdl))."""
    n, avgdl = len(docs), sum(map(len, docs)) / len(docs)
    out = np.zeros(n)
    for term in query:
        df = sum(term in d for d in docs)
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, d in enumerate(docs):
            tf = d.count(term)
            out[i] += idf * tf / (tf + k1 * (1 - b + b * len(d) / avgdl)) if tf else 0.0
    return out


def catalog_task(query_items=None, query_texts=None, texts=CORPUS):
    fields = {"title": list(texts)}
    return SimpleNamespace(item_fields=fields, default_fields=("title",), item_ids=np.arange(len(texts)),
                           item_texts=lambda f, style=None: list(texts), query_items=query_items, query_texts=query_texts)


def test_scores_are_lucene_bm25():
    model = baselines.get("bm25")()
    task = catalog_task(query_texts=["banana fig", "grape apple apple"])
    scores = model.score_queries(task, np.arange(2))
    for row, query in zip(scores, task.query_texts):
        assert row == pytest.approx(lucene_bm25(query.split(), [d.split() for d in CORPUS]), rel=1e-5)
    assert model.stored_bytes_per_item > 0 and model.params["bm25s"]


def test_an_item_whose_text_is_the_query_ranks_first():
    model = baselines.get("bm25")()
    scores = model.score_queries(catalog_task(query_items=np.array([0, 1, 2, 3])), np.arange(4))
    assert list(scores.argmax(axis=1)) == [0, 1, 2, 3]
    empty = model.score_queries(catalog_task(query_texts=["the of and"]), np.arange(1))  # stopwords only
    assert np.all(empty == 0)


def test_bm25_serves_every_kind_with_text():
    for kind in ("item-to-item", "sequences", "impressions", "pairs"):
        assert supports(baselines.get("bm25"), kind), kind


def test_a_pair_scores_the_mean_of_both_directions_of_lucene_bm25():
    model = baselines.get("bm25")()
    model.fit_pairs(CORPUS)
    docs = [d.split() for d in CORPUS]
    got = model.score_pairs([CORPUS[0], CORPUS[2]], [CORPUS[3], CORPUS[1]])
    for (a, b), value in zip([(0, 3), (2, 1)], got):
        expected = (lucene_bm25(docs[a], docs)[b] + lucene_bm25(docs[b], docs)[a]) / 2
        assert value == pytest.approx(expected, rel=1e-5)
    assert got[1] == 0.0  # no word shared
    assert model.score_pairs([CORPUS[3]], [CORPUS[0]])[0] == pytest.approx(got[0])  # symmetric
    with pytest.raises(ValueError, match="not in the corpus"):
        model.score_pairs(["kiwi"], [CORPUS[0]])
