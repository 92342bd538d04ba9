"""The torch network of ``unisrec.py`` and ``sasrec_hybrid.py``: a SASRec-style causal
transformer whose item representations come from frozen text vectors (through UniSRec's
mixture-of-experts whitening adaptor, or a linear projection), optionally plus an id embedding
for the items seen in training. Apart so that discovering the models imports no torch."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from recbench.baselines.sequential._sasrec_net import SelfAttentionBlock


class MoEAdaptor(nn.Module):
    """UniSRec's parametric whitening with a mixture of experts: expert k maps (x - b_k) W_k;
    a softmax gate over x mixes the experts."""

    def __init__(self, text_dim: int, hidden: int, experts: int, dropout: float) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(experts, text_dim))
        self.weight = nn.Parameter(torch.empty(experts, text_dim, hidden))
        nn.init.normal_(self.weight, std=0.02)
        self.gate = nn.Linear(text_dim, experts, bias=False)
        nn.init.zeros_(self.gate.weight)  # start as the plain mean of the experts
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(x)
        experts = torch.einsum("nkd,kdh->nkh", x[:, None, :] - self.bias[None], self.weight)
        return (F.softmax(self.gate(x), dim=-1)[..., None] * experts).sum(dim=1)


class PrefixTable(nn.Module):
    """Items as the sum of the embeddings of their code prefixes (semantic-ID features): row
    ``index[i, l]`` of the table is item i's level-l prefix; 0 is a prefix training never saw and
    adds nothing (a zero row that no step moves)."""

    def __init__(self, n_items: int, levels: int, n_prefixes: int, hidden: int) -> None:
        super().__init__()
        self.prefixes = nn.Embedding(n_prefixes + 1, hidden, padding_idx=0)
        self.register_buffer("index", torch.zeros(n_items, levels, dtype=torch.long), persistent=False)

    def forward(self, _text: torch.Tensor) -> torch.Tensor:
        return self.prefixes(self.index).sum(dim=1)


class TextSeqNet(nn.Module):
    def __init__(self, n_items: int, text_dim: int, hidden: int, layers: int, heads: int, inner: int,
                 dropout: float, max_length: int, adaptor: str | nn.Module, experts: int, use_ids: bool,
                 temperature: float | None, id_dropout: float = 0.0) -> None:
        super().__init__()
        self.max_length, self.temperature, self.id_dropout = max_length, temperature, id_dropout
        if isinstance(adaptor, nn.Module):  # the item table from something other than text (codes)
            self.adaptor = adaptor
        else:
            self.adaptor = (MoEAdaptor(text_dim, hidden, experts, dropout) if adaptor == "moe"
                            else nn.Linear(text_dim, hidden))
        self.ids = nn.Embedding(n_items, hidden) if use_ids else None
        self.positions = nn.Embedding(max_length, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(SelfAttentionBlock(hidden, heads, inner, dropout) for _ in range(layers))
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)) and module is not getattr(self.adaptor, "gate", None):
                nn.init.normal_(module.weight, std=0.02)
                if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                    with torch.no_grad():
                        module.weight[module.padding_idx].zero_()
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        self.register_buffer("text", torch.zeros(n_items, text_dim), persistent=False)  # set per catalog
        self.register_buffer("seen", torch.zeros(n_items, dtype=torch.bool))  # items with an id part

    def table(self) -> torch.Tensor:
        """(n_items + 1, hidden): row 0 pads; row r + 1 is catalog item r."""
        items = self.adaptor(self.text)
        if self.ids is not None:  # the id part only where training saw the item
            keep = self.seen[:, None].float()
            if self.training and self.id_dropout > 0:  # items that lose their id this step: text must carry them
                keep = keep * (torch.rand_like(keep) >= self.id_dropout).float()
            items = items + self.ids.weight * keep
        return torch.cat([torch.zeros_like(items[:1]), items])

    def forward(self, seq: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        b, n = seq.shape
        valid = seq > 0
        pos = torch.arange(self.max_length - n, self.max_length)
        x = self.drop(self.norm(table[seq] + self.positions(pos)[None]))
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
        allowed = (causal[None] & valid[:, None, :]) | torch.eye(n, dtype=torch.bool)[None]
        for block in self.blocks:
            x = block(x, allowed) * valid.unsqueeze(-1)
        return x

    def logits(self, states: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        items = table[1:]
        if self.temperature is not None:  # UniSRec: cosine over a temperature
            return F.normalize(states, dim=-1) @ F.normalize(items, dim=-1).T / self.temperature
        return states @ items.T
