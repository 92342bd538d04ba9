"""The torch networks of ``sasrec.py``, apart so that discovering the model imports no torch."""

from __future__ import annotations


import torch
from torch import nn
from torch.nn import functional as F


class SelfAttentionBlock(nn.Module):
    """Multi-head causal self-attention + feed-forward, each with residual, dropout and a
    post-layer-norm (RecBole's TransformerLayer)."""

    def __init__(self, hidden: int, heads: int, inner: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn = nn.Sequential(nn.Linear(hidden, inner), nn.GELU(), nn.Linear(inner, hidden))
        self.norm2 = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, n, h = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None],
                                             dropout_p=self.dropout if self.training else 0.0)
        x = self.norm1(x + self.drop(self.out(att.transpose(1, 2).reshape(b, n, h))))
        return self.norm2(x + self.drop(self.ffn(x)))


class SASRecNet(nn.Module):
    def __init__(self, n_items: int, hidden: int, layers: int, heads: int, inner: int, dropout: float,
                 max_length: int) -> None:
        super().__init__()
        self.max_length = max_length
        self.items = nn.Embedding(n_items + 1, hidden, padding_idx=0)  # row 0 pads; catalog row r is r + 1
        self.positions = nn.Embedding(max_length, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(SelfAttentionBlock(hidden, heads, inner, dropout) for _ in range(layers))
        for module in self.modules():  # RecBole's initialisation
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(b, n) left-padded item ids (0 = padding) -> (b, n, hidden) states."""
        b, n = seq.shape
        valid = seq > 0
        pos = torch.arange(self.max_length - n, self.max_length)
        x = self.drop(self.norm(self.items(seq) + self.positions(pos)[None]))
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
        # a position sees the real items up to itself; a padding position sees only itself
        allowed = (causal[None] & valid[:, None, :]) | torch.eye(n, dtype=torch.bool)[None]
        for block in self.blocks:
            x = block(x, allowed) * valid.unsqueeze(-1)
        return x

    def catalog_logits(self, states: torch.Tensor) -> torch.Tensor:
        return states @ self.items.weight[1:].T
