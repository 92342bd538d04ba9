"""The torch networks of ``recformer.py``, apart so that discovering the model imports no torch."""

from __future__ import annotations


import torch
from torch import nn
from torch.nn import functional as F

from recbench.baselines.sequential._recformer_tokens import VALUE_TYPE


class RecformerEncoder(nn.Module):
    """The backbone plus Recformer's item-position and token-type embeddings; the frozen item
    table is a buffer, so a checkpoint (and the loop's best-state copy) carries it."""

    def __init__(self, bert: nn.Module, max_items: int) -> None:
        super().__init__()
        self.bert = bert
        hidden = bert.config.hidden_size
        self.item_position = nn.Embedding(max_items + 1, hidden)
        self.token_type = nn.Embedding(3, hidden)
        nn.init.zeros_(self.item_position.weight)
        nn.init.zeros_(self.token_type.weight)
        self.register_buffer("table", torch.zeros(0, hidden), persistent=True)

    def forward(self, ids: torch.Tensor, types: torch.Tensor, items: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        x = self.bert.embeddings.word_embeddings(ids) + self.item_position(items) + self.token_type(types)
        out = self.bert(inputs_embeds=x, token_type_ids=(types == VALUE_TYPE).long(), attention_mask=attention)
        return F.normalize(out.last_hidden_state[:, 0], dim=-1)
