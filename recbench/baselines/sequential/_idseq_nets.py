"""The torch networks of ``gru4rec.py`` and ``bert4rec.py``, apart so that discovering the
models imports no torch. Both take left-padded item ids (0 pads; catalog row r is id r + 1)
and give one state per position, scored against the item embeddings by dot product, as
``SASRecNet`` does."""

from __future__ import annotations

import torch
from torch import nn

from recbench.baselines.sequential._sasrec_net import SelfAttentionBlock


def _recbole_init(net: nn.Module) -> None:
    for module in net.modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


class GRU4RecNet(nn.Module):
    """RecBole's GRU4Rec: item embedding (64) -> dropout -> GRU (hidden 128) -> a dense layer back
    to the embedding size; the output at a position scores every item by dot product."""

    def __init__(self, n_items: int, embedding: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.items = nn.Embedding(n_items + 1, embedding, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(embedding, hidden, num_layers=layers, batch_first=True, bias=False)
        self.dense = nn.Linear(hidden, embedding)
        _recbole_init(self)
        for name, weight in self.gru.named_parameters():
            nn.init.xavier_uniform_(weight)  # RecBole initialises the GRU with Xavier
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(b, n) left-padded ids -> (b, n, embedding) states. Padding comes first and is all
        zeros (zero embedding, a GRU without bias), so it leaves the state at zero."""
        out, _ = self.gru(self.drop(self.items(seq)))
        return self.dense(out)

    def catalog_logits(self, states: torch.Tensor) -> torch.Tensor:
        return states @ self.items.weight[1:].T


class BERT4RecNet(nn.Module):
    """RecBole's BERT4Rec: item embeddings with one extra [mask] row, learned positions,
    bidirectional self-attention blocks (post-layer-norm, GELU); a masked position's state
    scores every item through a dense + GELU + layer-norm head and the shared embeddings."""

    def __init__(self, n_items: int, hidden: int, layers: int, heads: int, inner: int, dropout: float,
                 max_length: int) -> None:
        super().__init__()
        self.max_length = max_length
        self.mask_id = n_items + 1
        self.items = nn.Embedding(n_items + 2, hidden, padding_idx=0)  # 0 pads, n_items + 1 is [mask]
        self.positions = nn.Embedding(max_length, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(SelfAttentionBlock(hidden, heads, inner, dropout) for _ in range(layers))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden, eps=1e-12))
        self.bias = nn.Parameter(torch.zeros(n_items))
        _recbole_init(self)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        b, n = seq.shape
        valid = seq > 0
        pos = torch.arange(self.max_length - n, self.max_length)
        x = self.drop(self.norm(self.items(seq) + self.positions(pos)[None]))
        allowed = valid[:, None, :] | torch.eye(n, dtype=torch.bool)[None]  # every real item, both ways
        for block in self.blocks:
            x = block(x, allowed) * valid.unsqueeze(-1)
        return x

    def catalog_logits(self, states: torch.Tensor) -> torch.Tensor:
        return self.head(states) @ self.items.weight[1:-1].T + self.bias
