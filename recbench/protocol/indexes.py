"""Item indexes for the serving path of the full-ranking kinds (``--index``), all in faiss over
unit item vectors with inner product (= cosine):

- ``flat``: exact search over float32 vectors (4 bytes per dimension);
- ``fp16`` / ``sq8``: exact scan over vectors stored as float16 / 8-bit scalar-quantised
  (2 / 1 bytes per dimension);
- ``hnsw``: a graph (HNSW, M=32, efSearch=64) over float32 vectors: approximate, fast;
- ``ivfpq``: inverted lists (about 4 sqrt(n) of them, 16 probed) over product-quantised codes
  (one byte per 8 dimensions): approximate and small.

With an approximate index the quality metrics are those of what the index returns: its top
``DEPTH`` items per query in its order, every other item tied below them (the ranking metrics
take a tie's expected value, so nothing unreturned is ranked by luck). Each index reports its
build seconds, bytes per item (its serialised size over the catalog) and recall@10 of the exact
top 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from recbench.protocol.timing import stopwatch

INDEXES = ("flat", "fp16", "sq8", "hnsw", "ivfpq")
DEPTH = 100  # items an approximate index returns per query for the quality metrics
UNRETURNED = -1e9  # the score of every item an index did not return (one tie group)


@dataclass
class ItemIndex:
    name: str
    index: Any
    build_seconds: float
    bytes_per_item: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return self.name == "flat"

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        k = min(k, self.index.ntotal)
        _, idx = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return idx

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "build_seconds": self.build_seconds, "bytes_per_item": self.bytes_per_item,
                **self.params}


def pq_subquantizers(d: int) -> int:
    """The most sub-quantizers that divide ``d`` with at least 8 dimensions each (one byte per 8 dims)."""
    return max([m for m in range(1, d // 8 + 1) if d % m == 0] or [1])


def build_index(name: str, vectors: np.ndarray) -> ItemIndex:
    """Builds (and, where the index learns, trains on the catalog itself) one index."""
    import faiss

    if name not in INDEXES:
        raise ValueError(f"--index {name!r} is not one of {', '.join(INDEXES)}")
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = x.shape
    ip = faiss.METRIC_INNER_PRODUCT
    params: dict[str, Any] = {}
    with stopwatch() as sw:
        if name == "flat":
            index = faiss.IndexFlatIP(d)
        elif name in ("fp16", "sq8"):
            index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16 if name == "fp16" else
                                               faiss.ScalarQuantizer.QT_8bit, ip)
        elif name == "hnsw":
            index = faiss.IndexHNSWFlat(d, 32, ip)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 64
            params.update({"M": 32, "efConstruction": 80, "efSearch": 64})
        else:
            nlist = int(max(1, min(4 * math.sqrt(n), n // 39)))
            m = pq_subquantizers(d)
            nbits = int(min(8, max(1, math.floor(math.log2(max(n, 2))) - 1)))  # k-means needs more points than codes
            index = faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, nlist, m, nbits, ip)
            index.nprobe = min(nlist, 16)
            params.update({"nlist": nlist, "nprobe": index.nprobe, "subquantizers": m, "bits": nbits})
        if not index.is_trained:
            index.train(x)
        index.add(x)
    size = len(faiss.serialize_index(index))
    return ItemIndex(name, index, sw.seconds, size / max(n, 1), params)


def excluded_of(excluded: np.ndarray, offsets: np.ndarray, i: int) -> np.ndarray:
    return excluded[offsets[i]:offsets[i + 1]]


def top_k(index: ItemIndex, query: np.ndarray, k: int, excluded: np.ndarray) -> np.ndarray:
    """The top-k catalog rows for one query vector, excluded rows filtered out."""
    hits = index.search(query[None, :], k + len(excluded))[0]
    hits = hits[(hits >= 0) & ~np.isin(hits, excluded)]
    return hits[:k]


def returned_scores(index: ItemIndex, queries: np.ndarray, n_items: int, excluded: np.ndarray,
                    excluded_offsets: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A score block (queries x items) from what an approximate index returns: its top DEPTH
    (beyond the query's excluded items) in its order, every other item at one lower score."""

    def block(rows: np.ndarray) -> np.ndarray:
        most_excluded = int(np.max(np.diff(excluded_offsets)[rows])) if len(rows) else 0
        hits = index.search(queries[rows], DEPTH + most_excluded)
        out = np.full((len(rows), n_items), UNRETURNED, dtype=np.float32)
        for j, row in enumerate(hits):
            row = row[row >= 0]
            out[j, row] = np.arange(len(row), 0, -1, dtype=np.float32)  # first returned scores highest
        return out

    return block


def recall_of_exact(index: ItemIndex, exact: ItemIndex, queries: np.ndarray, excluded: np.ndarray,
                    excluded_offsets: np.ndarray, k: int = 10, sample: int = 2000) -> float:
    """Mean share of the exact top-k (excluded items left out) that the index also returns in
    its top k, over up to ``sample`` queries spread evenly."""
    if index.exact:
        return 1.0
    n = len(queries)
    picks = np.linspace(0, n - 1, min(sample, n)).astype(int)
    found = []
    for i in picks:
        skip = excluded_of(excluded, excluded_offsets, i)
        truth = top_k(exact, queries[i], k, skip)
        found.append(len(np.intersect1d(top_k(index, queries[i], k, skip), truth)) / max(1, len(truth)))
    return float(np.mean(found)) if found else 1.0
