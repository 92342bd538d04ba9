"""SASRec on mapped text vectors (Sheng et al., "Language Representations Can be What
Recommenders Need"): an item's embedding is a learned linear map of its frozen all-MiniLM-L6-v2
vector and nothing else: no id table, so a cold item is served exactly as a warm one. The
sequence model, loss and settings are ``sasrec-hybrid``'s (hidden 64, 2 causal blocks,
dot-product scores, full-catalog cross-entropy, Adam at 1e-3, batch 256, the last 50 items,
dropout 0.5): the hybrid without its id part, and UniSRec with a linear map in place of its
mixture-of-experts adaptor and dot products in place of its temperature-scaled cosine."""

from __future__ import annotations

from typing import Any

from recbench.baselines.sequential.sasrec_hybrid import SASRecHybrid
from recbench.baselines.sequential.unisrec import TextSeqNet
from recbench.protocol.registry import baselines


@baselines.register("sasrec-text")
class SASRecMappedText(SASRecHybrid):
    name = "sasrec-text"
    version = "1"
    item_representation = "linear map of the frozen MiniLM vector"

    def __init__(self, arg: str | None = None, hidden: int = 64, layers: int = 2, heads: int = 2, inner: int = 256,
                 dropout: float = 0.5, max_length: int = 50, batch: int = 256, lr: float = 1e-3) -> None:
        super().__init__(arg, hidden, layers, heads, inner, dropout, max_length, batch, lr)

    @property
    def params(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "layers": self.layers, "heads": self.heads, "inner": self.inner,
                "dropout": self.dropout, "max_length": self.max_length, "batch": self.batch,
                "lr": self.learning_rate, "loss": "full-catalog cross-entropy",
                "inputs": "linearly mapped all-MiniLM-L6-v2 text vector (no id)"}

    def _network(self, n_items: int, text_dim: int) -> Any:
        return TextSeqNet(n_items, text_dim, self.hidden, self.layers, self.heads, self.inner, self.dropout,
                          self.max_length, "linear", 0, use_ids=False, temperature=None)
