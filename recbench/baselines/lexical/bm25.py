"""BM25 (Okapi, Lucene's variant) over the item catalog, by the maintained ``bm25s`` package: the
lexical baseline of BEIR and MTEB. A query is the query item's text (item-to-item), a user's last
``history`` items' texts (sequences) or an impression's history texts (impressions); every catalog
item (impressions: every candidate) is scored against it. It is a Ranker: the protocols time its
scoring of one query over the whole catalog like any joint scorer's, and the record keeps the
index's bytes per item (the sparse term-score matrix).

Pairs (STS): a PairScorer. The task's distinct sentences are the corpus (its IDF and mean length);
a pair scores the mean of BM25(a as query, b) and BM25(b as query, a), so the score is symmetric.
STS's primary metric is Spearman's rank correlation, which no monotone rescaling changes; Pearson's
r, which assumes a linear scale, is reported but means less for a lexical score."""

from __future__ import annotations

from typing import Any

import numpy as np

from recbench.baselines._lazy import LazyModule
from recbench.protocol.registry import baselines

bm25s = LazyModule("bm25s")


@baselines.register("bm25")
class BM25:
    name = "bm25"
    version = 1
    task_kinds = ("item-to-item", "sequences", "impressions", "pairs")
    item_representation = "its text's words, weighted by BM25"

    def __init__(self, arg: str | None = None, k1: float = 1.5, b: float = 0.75, history: int = 50,
                 stopwords: str = "en") -> None:
        if not 0.0 <= b <= 1.0 or k1 < 0.0 or history < 1:
            raise ValueError(f"bm25: k1 >= 0, 0 <= b <= 1 and history >= 1 (got k1={k1}, b={b}, history={history})")
        self.k1, self.b, self.history, self.stopwords = float(k1), float(b), int(history), stopwords
        self._index: tuple[Any, Any, list[str]] | None = None  # (item table it indexes, retriever, texts)
        self._pairs: tuple[Any, dict[str, int]] | None = None  # (retriever over the pairs' corpus, text -> row)
        self.stored_bytes_per_text: int | None = None
        self.stored_bytes_per_item: int | None = None

    @property
    def params(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {"k1": self.k1, "b": self.b, "history": self.history, "stopwords": self.stopwords,
                "method": "lucene", "bm25s": version("bm25s")}

    # --- the index ------------------------------------------------------------------------
    def _tokens(self, texts: list[str]) -> list[list[str]]:
        return bm25s.tokenize(texts, stopwords=self.stopwords, return_ids=False, show_progress=False)

    def retriever(self, task: Any) -> tuple[Any, list[str]]:
        """The catalog's index, built once per item table (in the task's default fields)."""
        if self._index is None or self._index[0] is not task.item_fields:
            texts = list(task.item_texts(tuple(task.default_fields)))
            retriever = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            retriever.index(bm25s.tokenize(texts, stopwords=self.stopwords, show_progress=False), show_progress=False)
            stored = sum(int(a.nbytes) for a in retriever.scores.values() if hasattr(a, "nbytes"))
            self.stored_bytes_per_item = max(1, round(stored / max(len(texts), 1)))
            self._index = (task.item_fields, retriever, texts)
        return self._index[1], self._index[2]

    def _scores(self, retriever: Any, query: str, n_items: int) -> np.ndarray:
        tokens = self._tokens([query])[0]
        if not tokens:  # a query with no indexable word scores every item alike
            return np.zeros(n_items, dtype=np.float32)
        return np.asarray(retriever.get_scores(tokens), dtype=np.float32)

    # --- PairScorer (the pairs kind) -------------------------------------------------------
    def fit_pairs(self, corpus: list[str]) -> None:
        retriever = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        retriever.index(bm25s.tokenize(list(corpus), stopwords=self.stopwords, show_progress=False), show_progress=False)
        stored = sum(int(a.nbytes) for a in retriever.scores.values() if hasattr(a, "nbytes"))
        self.stored_bytes_per_text = max(1, round(stored / max(len(corpus), 1)))
        self._pairs = (retriever, {text: row for row, text in enumerate(corpus)})

    def score_pairs(self, texts_a: list[str], texts_b: list[str]) -> np.ndarray:
        """Symmetric BM25 of each pair; a text outside the fitted corpus is refused (fit first)."""
        if self._pairs is None:
            raise RuntimeError("bm25: fit_pairs(corpus) before score_pairs")
        retriever, rows = self._pairs
        n = len(rows)

        def one_way(query: str, doc: str) -> float:
            if doc not in rows:
                raise ValueError(f"bm25: {doc[:60]!r} is not in the corpus fit_pairs was given")
            return float(self._scores(retriever, query, n)[rows[doc]])

        return np.array([(one_way(a, b) + one_way(b, a)) / 2.0 for a, b in zip(texts_a, texts_b)], dtype=np.float64)

    # --- Ranker -----------------------------------------------------------------------------
    def score_queries(self, task: Any, queries: np.ndarray) -> np.ndarray:
        """Item-to-item and sequences: (len(queries), n_items) scores over the catalog;
        impressions: the flat scores of those impressions' candidates, in order."""
        retriever, texts = self.retriever(task)
        n_items = len(texts)
        if hasattr(task, "test"):  # impressions: the history's texts against each candidate
            imps = task.test
            return np.concatenate([
                self._scores(retriever, self._joined(texts, imps.history_of(int(i))), n_items)[imps.candidates_of(int(i))]
                for i in queries]).astype(np.float64) if len(queries) else np.zeros(0)
        out = np.empty((len(queries), n_items), dtype=np.float32)
        for j, i in enumerate(np.asarray(queries, dtype=np.int64)):
            out[j] = self._scores(retriever, self.query_text(task, texts, int(i)), n_items)
        return out

    def query_text(self, task: Any, texts: list[str], i: int) -> str:
        if getattr(task, "query_items", None) is not None:
            return texts[int(task.query_items[i])]
        if getattr(task, "query_texts", None) is not None:
            return str(task.query_texts[i])
        return self._joined(texts, task.history_of(i))

    def _joined(self, texts: list[str], rows: np.ndarray) -> str:
        """The last ``history`` items' texts: a user's query."""
        return " ".join(texts[int(r)] for r in np.asarray(rows)[-self.history:])
