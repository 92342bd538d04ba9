"""SASRec on semantic-ID features (Singh et al., "Better Generalization with Semantic IDs", the
YouTube ranking study): an item's embedding is the sum of the embeddings of its code prefixes
(c1), (c1, c2), (c1, c2, c3) and, with ``unique`` (the default), the whole tuple with the
collision column, instead of a free id embedding. Items whose codes share a prefix share its
embedding, so what training learns about one item reaches its neighbours, and a cold item is
served by the prefixes its text falls under (a prefix training never saw adds nothing).

The codes come from ``_item_codes``: ``indexing=semantic`` (RQ-KMeans over frozen MiniLM
vectors, 3 levels of 256, the default), ``random``, ``sequential``, ``collaborative`` or
``hybrid``, fitted on the items training sees (the cold-item protocol). Otherwise SASRec as
``sasrec-hybrid``: hidden 64, 2 causal blocks, dot-product scores, full-catalog cross-entropy,
Adam at 1e-3, batch 256, the last 50 items, dropout 0.5. ``unique=false`` leaves the whole
tuple out: items that collide then share one embedding (pure semantic features, no memorising
of single items).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from recbench.baselines.sequential._item_codes import FittedIndexing, IndexingSpec, cached_indexing, code_stats
from recbench.baselines._lazy import LazyModule, lazy_names
from recbench.baselines.sequential._sequences_training import seen_items, training_sequences
from recbench.baselines.sequential.unisrec import UniSRec, item_vectors
from recbench.protocol.registry import baselines

torch = LazyModule("torch")
TextSeqNet, PrefixTable = lazy_names("recbench.baselines.sequential._textseq_net", "TextSeqNet", "PrefixTable")


def prefix_vocabulary(codes: np.ndarray, rows: np.ndarray, depths: int) -> dict[tuple[int, ...], int]:
    """Ids 1.. for the code prefixes of length 1..``depths`` that the items ``rows`` carry."""
    vocab: dict[tuple[int, ...], int] = {}
    for row in np.flatnonzero(rows):
        code = tuple(int(c) for c in codes[row])
        for depth in range(1, depths + 1):
            vocab.setdefault(code[:depth], len(vocab) + 1)
    return vocab


def prefix_index(codes: np.ndarray, vocab: dict[tuple[int, ...], int], depths: int) -> np.ndarray:
    """``(n_items, depths)``: each item's prefix ids under ``vocab``; 0 where a prefix is unknown."""
    out = np.zeros((len(codes), depths), dtype=np.int64)
    for row, code in enumerate(codes.tolist()):
        for depth in range(depths):
            out[row, depth] = vocab.get(tuple(code[: depth + 1]), 0)
    return out


@baselines.register("sasrec-sid")
class SASRecSemanticID(UniSRec):
    name = "sasrec-sid"
    version = "1"
    default_budget = "1200steps"
    uses_ids = False

    def __init__(self, arg: str | None = None, hidden: int = 64, layers: int = 2, heads: int = 2, inner: int = 256,
                 dropout: float = 0.5, max_length: int = 50, batch: int = 256, lr: float = 1e-3,
                 indexing: str = "semantic", levels: int = 3, codes: int = 256, branching: int = 16,
                 unique: bool | str = True, indexing_seed: int = 0) -> None:
        super().__init__(arg, hidden, layers, heads, inner, dropout, max_length, batch, lr)
        self.spec = IndexingSpec(method=str(indexing), levels=int(levels), codes=int(codes),
                                 branching=int(branching), seed=int(indexing_seed))
        self.unique = unique if isinstance(unique, bool) else str(unique).lower() in ("1", "true", "yes")
        self.indexing: FittedIndexing | None = None
        self.vocab: dict[tuple[int, ...], int] = {}
        self._stats: dict[str, Any] | None = None

    @property
    def depths(self) -> int:
        return self.spec.levels + (1 if self.unique else 0)

    @property
    def params(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "layers": self.layers, "heads": self.heads, "inner": self.inner,
                "dropout": self.dropout, "max_length": self.max_length, "batch": self.batch,
                "lr": self.learning_rate, "loss": "full-catalog cross-entropy",
                "inputs": "sum of the item's code-prefix embeddings", "indexing": self.spec.method,
                "levels": self.spec.levels, "codes": self.spec.codes, "branching": self.spec.branching,
                "unique": self.unique, "indexing_seed": self.spec.seed, **self.spec.params}

    @property
    def details(self) -> dict[str, Any]:
        return {"representation": {"item": f"{self.spec.method} code prefixes", **(self._stats or {})}}

    def _network(self, n_items: int, text_dim: int) -> Any:
        table = PrefixTable(n_items, self.depths, len(self.vocab), self.hidden)
        return TextSeqNet(n_items, text_dim, self.hidden, self.layers, self.heads, self.inner, self.dropout,
                          self.max_length, table, 0, use_ids=False, temperature=None)

    def prepare_training(self, train_task: Any, seed: int) -> Any:
        sequences = training_sequences(train_task)
        seen = seen_items(sequences, len(train_task.item_ids))
        vectors = item_vectors(train_task)  # cold items' texts are blank here, and no code book sees them
        self.indexing = cached_indexing(self.spec, vectors, seen, sequences)
        self.vocab = prefix_vocabulary(self.indexing.codes_for(vectors), seen, self.depths)
        return super().prepare_training(train_task, seed)

    def _put_catalog(self, task: Any) -> None:
        """This catalog's prefix ids: the warm items' codes as fitted, the others placed by their
        text (an evaluated catalog's cold items by their real one)."""
        codes = self.indexing.codes_for(item_vectors(task))
        index = prefix_index(codes, self.vocab, self.depths)
        self.net.adaptor.index.copy_(torch.from_numpy(index))
        self._stats = {**code_stats(codes, self.spec),
                       "items_with_no_known_prefix": int((index == 0).all(axis=1).sum()),
                       "prefix_embeddings": len(self.vocab)}

    def save_checkpoint(self, folder: Path) -> None:
        super().save_checkpoint(folder)
        prefixes = np.full((len(self.vocab), self.depths + 1), -1, dtype=np.int64)
        for prefix, i in self.vocab.items():
            prefixes[i - 1, : len(prefix)] = prefix
            prefixes[i - 1, -1] = i
        np.savez(folder / "indexing.npz", prefixes=prefixes, **self.indexing.arrays())

    def load_checkpoint(self, folder: Path) -> None:
        with np.load(folder / "indexing.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        prefixes = arrays.pop("prefixes")
        self.indexing = FittedIndexing.from_arrays(self.spec, arrays)
        self.vocab = {tuple(int(c) for c in row[:-1] if c >= 0): int(row[-1]) for row in prefixes}
        meta = json.loads((folder / "sasrec.json").read_text())
        self._build(int(meta["n_items"]), 0)
        self.net.load_state_dict(torch.load(folder / "sasrec.pt", map_location="cpu", weights_only=True))
        self.net.eval()
