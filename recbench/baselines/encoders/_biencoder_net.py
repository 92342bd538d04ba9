"""The torch networks of ``biencoder.py``, apart so that discovering the model imports no torch."""

from __future__ import annotations


import torch
from torch import nn


class SASRecPooling(nn.Module):
    """Causal self-attention over the history's item vectors with learned positions (Kang and
    McAuley 2018, on text vectors); the output at a user's newest item is the user."""

    def __init__(self, dim: int, layers: int = 2, heads: int = 4, max_length: int = 50) -> None:
        super().__init__()
        self.position = nn.Embedding(max_length, dim)
        # small, as BERT initialises positions: N(0, 1) rows (norm ~ sqrt(dim) = 20) would drown the
        # unit-norm item vectors, and the user vector would start as noise the loss cannot undo
        # (measured: 250 steps stayed at AUC 0.51, chance)
        nn.init.normal_(self.position.weight, std=0.02)
        block = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=dim, dropout=0.1, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        for layer in self.blocks.layers:  # each block starts as the identity (its output projections
            for linear in (layer.self_attn.out_proj, layer.linear2):  # zero): the user starts as the
                nn.init.zeros_(linear.weight)  # newest item's vector, and training learns what to add
                nn.init.zeros_(linear.bias)

    def forward(self, items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, _ = items.shape
        x = items + self.position(torch.arange(n))[None]
        causal = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
        safe = mask.clone()
        safe[:, 0] = True  # an empty history attends to its padding; its output is zeroed below
        out = self.blocks(x, mask=causal, src_key_padding_mask=~safe)
        last = (mask.sum(dim=1) - 1).clamp(min=0)
        return out[torch.arange(b), last] * mask.any(dim=1, keepdim=True)


class BiEncoderTrainingModule(nn.Module):
    """What the optimiser sees: the encoder, the pooling's own weights, the temperature."""

    def __init__(self, encoder: nn.Module, pooling: nn.Module | None, log_temperature: torch.Tensor) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.log_temperature = nn.Parameter(log_temperature, requires_grad=log_temperature.requires_grad)
