"""The torch networks of ``nrms.py``, apart so that discovering the model imports no torch."""

from __future__ import annotations


import numpy as np
import torch
from torch import nn

from recbench.baselines._neural import AdditiveAttention, MultiHeadSelfAttention


class NRMSModule(nn.Module):
    def __init__(self, embeddings: np.ndarray, heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding.from_pretrained(torch.from_numpy(embeddings), freeze=False, padding_idx=0)
        dim = heads * head_dim
        self.word_attention = MultiHeadSelfAttention(embeddings.shape[1], heads, head_dim)
        self.word_pool = AdditiveAttention(dim)
        self.news_attention = MultiHeadSelfAttention(dim, heads, head_dim)
        self.user_pool = AdditiveAttention(dim)
        self.drop = nn.Dropout(dropout)

    def news(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = tokens > 0
        x = self.drop(self.embed(tokens))
        x = self.drop(self.word_attention(x, mask))
        return self.word_pool(x, mask)

    def user(self, clicked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.news_attention(self.drop(clicked), mask))
        return self.user_pool(x, mask)
