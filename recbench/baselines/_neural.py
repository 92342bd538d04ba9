"""Neural building blocks shared by the trained baselines (NRMS, the fine-tuned bi-encoder,
the trained ColBERT): additive attention, multi-head self-attention with a padding mask,
ragged-row padding, impression sampling, running a slice of a BERT's layers (frozen-and-cached
lower layers), LoRA adapters added and merged back."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class AdditiveAttention(nn.Module):
    """Weights a sequence by softmax(q . tanh(W x + b)) and sums it (NRMS, Wu et al. 2019).
    Rows whose mask is all False give the zero vector."""

    def __init__(self, dim: int, hidden: int = 200) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, hidden)
        self.query = nn.Linear(hidden, 1, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = self.query(torch.tanh(self.proj(x))).squeeze(-1).masked_fill(~mask, -1e9)
        weights = torch.softmax(logits, dim=-1) * mask
        return (weights.unsqueeze(-1) * x).sum(dim=1)


class MultiHeadSelfAttention(nn.Module):
    """``heads`` x ``head_dim`` self-attention over a padded sequence (keys masked)."""

    def __init__(self, in_dim: int, heads: int = 16, head_dim: int = 16) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(in_dim, 3 * heads * head_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        safe = mask.clone()
        safe[~mask.any(dim=1), 0] = True  # an empty sequence attends to its padding, not to nothing
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=safe[:, None, None, :])
        return out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim)


def click_samples(imps: Any, negatives: int, rng: np.random.Generator) -> Iterator[tuple[int, int, np.ndarray]]:
    """Endless (impression row, clicked item, ``negatives`` shown-but-not-clicked items) samples in a
    seeded random order: NRMS's training unit (K negatives per click, drawn with replacement
    where an impression shows fewer). Impressions without a non-clicked candidate are skipped."""
    pairs = []
    for i in range(len(imps)):
        lo, hi = imps.candidate_offsets[i], imps.candidate_offsets[i + 1]
        labels = imps.labels[lo:hi]
        if labels.all():
            continue
        for pos in imps.candidates[lo:hi][labels == 1]:
            pairs.append((i, int(pos)))
    if not pairs:
        raise ValueError("no impression has both a click and a non-clicked candidate to train on")
    while True:
        for j in rng.permutation(len(pairs)):
            i, pos = pairs[j]
            lo, hi = imps.candidate_offsets[i], imps.candidate_offsets[i + 1]
            neg_pool = imps.candidates[lo:hi][imps.labels[lo:hi] == 0]
            yield i, pos, rng.choice(neg_pool, size=negatives, replace=len(neg_pool) < negatives)


def impression_batches(imps: Any, batch: int, candidates: int, history: int,
                       rng: np.random.Generator) -> Iterator[list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Endless batches of ``batch`` train impressions, each (its last ``history`` items, its
    candidates sampled to ``candidates``: its positives, then negatives drawn within it, their
    labels), in a seeded order: the training unit of the seed's listwise losses (MINCE).
    Impressions with only one label class are skipped."""
    usable = [i for i in range(len(imps))
              if 0 < imps.labels[imps.candidate_offsets[i]:imps.candidate_offsets[i + 1]].sum()
              < imps.candidate_offsets[i + 1] - imps.candidate_offsets[i]]
    if not usable:
        raise ValueError("no train impression has both a click and a non-clicked candidate")
    size = min(batch, len(usable))
    while True:
        order = rng.permutation(usable)
        for s in range(0, len(order) - size + 1, size):
            out = []
            for i in order[s : s + size]:
                cand, lab = imps.candidates_of(i), imps.labels[imps.candidate_offsets[i]:imps.candidate_offsets[i + 1]]
                pos, neg = cand[lab == 1], cand[lab == 0]
                pos = rng.permutation(pos)[: candidates - 1]
                neg = rng.choice(neg, size=min(len(neg), candidates - len(pos)), replace=False)
                out.append((imps.history_of(i)[-history:], np.r_[pos, neg], np.r_[np.ones(len(pos)), np.zeros(len(neg))]))
            yield out


def listwise_loss(logits: torch.Tensor, labels: torch.Tensor, cmask: torch.Tensor, loss: str) -> torch.Tensor:
    """The seed's listwise / pointwise losses over each impression's candidates: ``mince``
    (InfoNCE averaged over the positives), ``infonce`` (the first positive), ``bce``."""
    logits = logits.masked_fill(~cmask, float("-inf"))
    pos = (labels > 0) & cmask
    if loss in ("mince", "infonce"):
        log_p = logits.log_softmax(dim=-1)
        if loss == "infonce":
            return -log_p[torch.arange(len(logits)), pos.float().argmax(dim=1)].mean()
        return -(torch.where(pos, log_p, torch.zeros_like(log_p)).sum(dim=1) / pos.sum(dim=1)).mean()
    if loss == "bce":
        finite = torch.where(cmask, logits, torch.zeros_like(logits))
        return F.binary_cross_entropy_with_logits(finite[cmask], labels[cmask])
    raise ValueError(f"unknown loss {loss!r}")


def batched(samples: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while True:
        yield [next(samples) for _ in range(size)]


def pad_rows(rows: list[Any], at: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged rows of item indices -> (index, mask), padded with 0 to the longest row (at least
    1 wide); ``at`` maps each item to its position in a step's vector table (None: as they are)."""
    lengths = np.array([len(x) for x in rows], dtype=np.int64)
    width = max(1, int(lengths.max()) if len(lengths) else 1)
    mask = np.arange(width)[None, :] < lengths[:, None]
    index = np.zeros((len(rows), width), dtype=np.int64)
    flat = np.concatenate([np.asarray(x, dtype=np.int64) for x in rows]) if len(rows) else np.zeros(0, np.int64)
    index[mask] = flat if at is None else at[flat]
    return torch.from_numpy(index), torch.from_numpy(mask)


def padding_bias(attention: torch.Tensor, dtype: torch.dtype) -> torch.Tensor | None:
    """A 2-D padding mask (1 = token, 0 = padding) as the additive (batch, 1, 1, length) bias
    every attention implementation of a Hugging Face layer accepts (eager adds it to the logits,
    SDPA takes it as ``attn_mask``); None when nothing is padded, as the model itself passes.
    Built here from public tensor operations: the model's own mask helpers are private and
    changed signature between transformers releases (issue 33)."""
    if bool(attention.all()):
        return None
    keep = attention[:, None, None, :].to(torch.bool)
    return torch.zeros(keep.shape, dtype=dtype, device=attention.device).masked_fill(~keep, torch.finfo(dtype).min)


def bert_layers(bert: nn.Module, h: torch.Tensor, attention: torch.Tensor, layers: Any) -> torch.Tensor:
    """Runs hidden states ``h`` through ``layers`` of a Hugging Face BERT under its padding mask:
    the lower layers once over a catalog (cached), the upper ones each step. Run through every
    layer from the embeddings, it equals the model's public forward
    (``tests/test_public_api.py`` holds it to that)."""
    bias = padding_bias(attention, h.dtype)
    for layer in layers:
        out = layer(h, attention_mask=bias)
        h = out[0] if isinstance(out, tuple) else out  # transformers 4.x returns a tuple
    return h


def bert_lower(bert: nn.Module, enc: dict[str, torch.Tensor], frozen_layers: int) -> torch.Tensor:
    """Embeddings and the lower ``frozen_layers`` layers."""
    h = bert.embeddings(input_ids=enc["input_ids"], token_type_ids=enc.get("token_type_ids"))
    return bert_layers(bert, h, enc["attention_mask"], bert.encoder.layer[:frozen_layers])


def add_lora(bert: nn.Module, rank: int, first_layer: int) -> None:
    """LoRA adapters (peft) of rank ``rank`` on the attention and dense projections of the layers
    from ``first_layer`` up; every other weight frozen."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=["query", "key", "value", "dense"],
                        layers_to_transform=list(range(first_layer, len(bert.encoder.layer))))
    for p in bert.parameters():
        p.requires_grad_(False)
    inject_adapter_in_model(config, bert)


def merge_lora(bert: nn.Module) -> None:
    """Merges LoRA adapters into their base layers and puts the plain layers back, so the model
    saves (and loads) as an ordinary one."""
    for module in bert.modules():
        if hasattr(module, "merge") and hasattr(module, "lora_A"):
            module.merge()
    for _, module in list(bert.named_modules()):
        for child_name, child in list(module.named_children()):
            if hasattr(child, "lora_A") and hasattr(child, "base_layer"):
                setattr(module, child_name, child.base_layer)
