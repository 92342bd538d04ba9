"""UniSRec (Hou et al., KDD 2022) on frozen MiniLM item vectors: item texts (the dataset's
default fields) encoded once by all-MiniLM-L6-v2, mapped by UniSRec's mixture-of-experts
whitening adaptor (8 experts), then a SASRec-style causal transformer; a user's state scores
every item by cosine over a temperature (0.07). No item id anywhere, so a new item is served
by its text alone (the cold-item protocol's question).

Trained from scratch on the task's train part (the harness's training split), as SASRec is:
cross-entropy over the whole catalog at every position, Adam at 1e-3, batch 256 sequences, the
last 50 items. Differences from the paper, on purpose: MiniLM vectors instead of BERT's (a
wheel we have; 384-d), hidden 64 instead of 300 (2-core training), and no pre-training on other
Amazon categories (their Table 2 row, NDCG@10 0.0862 on Scientific, is pre-trained then
fine-tuned). ``sasrec-hybrid`` adds an id embedding to the same network.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recbench.baselines._lazy import LazyModule, lazy_names
from recbench.baselines.sequential._sequences_training import batched_scores, check_scorable, seen_items
from recbench.baselines.sequential.sasrec import SASRec, left_padded
from recbench.protocol.registry import baselines

torch, F = LazyModule("torch"), LazyModule("torch.nn.functional")
(TextSeqNet,) = lazy_names("recbench.baselines.sequential._textseq_net", "TextSeqNet")


def item_vectors(task: Any) -> np.ndarray:
    """Frozen all-MiniLM-L6-v2 vectors of the task's item texts (default fields), through the
    embedding cache: the same vectors the zero-shot ``sbert`` row uses."""
    from recbench.baselines.encoders.sbert import SBERT
    from recbench.protocol.cache import EmbeddingCache

    texts = task.item_texts()
    encoder, cache = SBERT(), EmbeddingCache()
    vectors = cache.get(encoder, texts)
    if vectors is None:
        vectors = encoder.encode(texts, batch_size=64)
        cache.put(encoder, texts, vectors)
    return np.asarray(vectors, dtype=np.float32)


@baselines.register("unisrec")
class UniSRec(SASRec):
    name = "unisrec"
    version = "1"
    item_representation = "its MiniLM vector through a mixture-of-experts adaptor"
    default_budget = "1200steps"
    uses_ids = False

    def __init__(self, arg: str | None = None, hidden: int = 64, layers: int = 2, heads: int = 2, inner: int = 256,
                 dropout: float = 0.2, max_length: int = 50, batch: int = 256, lr: float = 1e-3, experts: int = 8,
                 temperature: float = 0.07) -> None:
        super().__init__(arg, hidden, layers, heads, inner, dropout, max_length, batch, lr)
        self.experts, self.temperature = int(experts), float(temperature)
        self._text_for: str | None = None  # the texts whose vectors the network holds
        self._train_task: Any = None
        self._keyed_task: tuple[Any, str] | None = None
        self._table: Any = None

    @property
    def params(self) -> dict[str, Any]:
        return {**super().params, "experts": self.experts, "temperature": self.temperature,
                "inputs": "frozen all-MiniLM-L6-v2 text vectors", "adaptor": "moe whitening",
                "loss": "full-catalog cross-entropy (cosine / temperature)"}

    @property
    def stored_bytes_per_item(self) -> int:
        return self.hidden * 4  # the adapted item table a server keeps

    def _network(self, n_items: int, text_dim: int) -> Any:
        return TextSeqNet(n_items, text_dim, self.hidden, self.layers, self.heads, self.inner, self.dropout,
                          self.max_length, "moe", self.experts, use_ids=False, temperature=self.temperature)

    def _build(self, n_items: int, seed: int) -> Any:
        torch.manual_seed(seed)
        self.n_items = n_items
        self.net = self._network(n_items, 384)
        self._text_for, self._table = None, None
        return self.net

    def prepare_training(self, train_task: Any, seed: int) -> Any:
        net = super().prepare_training(train_task, seed)
        net.seen.copy_(torch.from_numpy(seen_items(self.sequences, len(train_task.item_ids))))
        self._train_task = train_task
        self._use_catalog(train_task)
        return net

    def training_loss(self, batch: list[np.ndarray]) -> tuple[Any, int, int]:
        self._use_catalog(self._train_task)  # a validation pass may have put another catalog in
        self._table = None  # the weights move with this step
        inputs = left_padded([s[:-1] for s in batch], self.max_length)
        labels = left_padded([s[1:] for s in batch], self.max_length) - 1
        table = self.net.table()
        logits = self.net.logits(self.net(inputs, table)[labels >= 0], table)
        if self.cold_rows is not None:
            logits = logits.masked_fill(self.cold_rows.to(logits.device), float("-inf"))
        return F.cross_entropy(logits, labels[labels >= 0]), len(batch), 0

    def _use_catalog(self, task: Any) -> None:
        """Puts the vectors of this task's item texts in (an evaluated catalog: every item's
        text, cold ones included; a training task: cold texts blank), keyed by the texts (the
        key remembered per task object: a query does not hash the catalog)."""
        from recbench.protocol.cache import texts_key

        if self._keyed_task is not None and self._keyed_task[0] is task:
            key = self._keyed_task[1]
        else:
            key = texts_key(task.item_texts())
            self._keyed_task = (task, key)
        if self._text_for != key:
            self._put_catalog(task)
            self._text_for = key
            self._table = None

    def _put_catalog(self, task: Any) -> None:
        """What the network holds of a catalog's items: their text vectors."""
        self.net.text.copy_(torch.from_numpy(item_vectors(task)))

    def weights_changed(self) -> None:
        """The loop swapped other weights in (the best validation step): the table is stale."""
        self._table = None

    def _item_table(self) -> Any:
        """The adapted item table, computed once per catalog while the weights stay (a training
        step drops it)."""
        if self._table is None:
            with torch.no_grad():
                self._table = self.net.table()
        return self._table

    def score_queries(self, task: Any, queries: np.ndarray) -> np.ndarray:
        check_scorable(self.name, self.net is not None, self.n_items, task)
        self._use_catalog(task)
        self.net.eval()
        with torch.no_grad():
            table = self._item_table()

            def score(rows: np.ndarray) -> np.ndarray:
                states = self.net(left_padded([task.history_of(int(i)) for i in rows], self.max_length), table)
                return self.net.logits(states[:, -1], table).cpu().numpy()

            return batched_scores(queries, self.n_items, score)
