"""The torch networks of ``recobert.py``, apart so that discovering the model imports no torch."""

from __future__ import annotations


import torch
from torch import nn


class RecoBERTModule(nn.Module):
    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert
        words = bert.embeddings.word_embeddings.weight
        self.lm_head = nn.Linear(words.shape[1], words.shape[0])
        with torch.no_grad():
            self.lm_head.weight.copy_(words)
            self.lm_head.bias.zero_()
