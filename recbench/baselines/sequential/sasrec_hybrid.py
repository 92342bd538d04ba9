"""SASRec with text: the hybrid teams deploy. An item's embedding is its id embedding plus a
linear projection of its frozen all-MiniLM-L6-v2 text vector; an item training never saw (a
new, cold item) has no id part and is served by its text alone. Otherwise SASRec as
``sasrec``: hidden 64, 2 causal blocks, dot-product scores, full-catalog cross-entropy, Adam at
1e-3, batch 256, the last 50 items, dropout 0.5 (``unisrec`` is the same network without ids,
through UniSRec's adaptor). ``id_dropout=p``: in each training step each item loses its id part
with probability p (as DropoutNet drops preference inputs), so that the text path learns to
carry an item alone, as it must for a cold one."""

from __future__ import annotations

from typing import Any

from recbench.baselines.sequential.unisrec import TextSeqNet, UniSRec
from recbench.protocol.registry import baselines


@baselines.register("sasrec-hybrid")
class SASRecHybrid(UniSRec):
    name = "sasrec-hybrid"
    version = "1"
    item_representation = "an id embedding + its mapped MiniLM vector"
    default_budget = "1200steps"

    def __init__(self, arg: str | None = None, hidden: int = 64, layers: int = 2, heads: int = 2, inner: int = 256,
                 dropout: float = 0.5, max_length: int = 50, batch: int = 256, lr: float = 1e-3,
                 id_dropout: float = 0.0) -> None:
        super().__init__(arg, hidden, layers, heads, inner, dropout, max_length, batch, lr)
        self.id_dropout = float(id_dropout)
        if not 0.0 <= self.id_dropout < 1.0:
            raise ValueError(f"sasrec-hybrid: id_dropout must lie in [0, 1), not {id_dropout}")

    @property
    def params(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "layers": self.layers, "heads": self.heads, "inner": self.inner,
                "dropout": self.dropout, "max_length": self.max_length, "batch": self.batch,
                "lr": self.learning_rate, "loss": "full-catalog cross-entropy",
                "inputs": "item id (items seen in training) + projected all-MiniLM-L6-v2 text vector",
                **({"id_dropout": self.id_dropout} if self.id_dropout else {})}

    def _network(self, n_items: int, text_dim: int) -> Any:
        return TextSeqNet(n_items, text_dim, self.hidden, self.layers, self.heads, self.inner, self.dropout,
                          self.max_length, "linear", 0, use_ids=True, temperature=None, id_dropout=self.id_dropout)
