"""SASRec (Kang and McAuley, ICDM 2018) on item ids only: the id-based reference that
Recformer's Table 2 compares with, trained by the harness on each user's sequence before the
validation item (``kinds/sequences.py``'s training split).

Architecture as RecBole's SASRec, whose settings the Recformer and UniSRec papers' SASRec rows
come from: item embeddings (hidden 64, shared with the output layer) plus learned positions
over the last ``max_length`` = 50 items, 2 self-attention blocks (2 heads, feed-forward 256,
GELU, post-layer-norm, dropout 0.5), causal attention; the output at the newest item scores every
catalog item by dot product. Loss: cross-entropy over the whole catalog at every position of a
sequence (each prefix predicts its next item, as the original model trains all positions at
once); Adam at 1e-3, batch 256 sequences. Sequences are left-padded so that the newest item
always sits at the last position (position ids count back from it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from recbench.protocol.registry import baselines
from recbench.baselines._lazy import LazyModule, lazy_names
from recbench.baselines.sequential._sequences_training import (batched_scores, check_scorable, shuffled_batches,
                                                                training_sequences)

torch, nn, F = LazyModule("torch"), LazyModule("torch.nn"), LazyModule("torch.nn.functional")
SelfAttentionBlock, SASRecNet = lazy_names("recbench.baselines.sequential._sasrec_net", 'SelfAttentionBlock', 'SASRecNet')


def left_padded(rows: list[np.ndarray], width: int) -> torch.Tensor:
    """Item rows -> (len(rows), w) ids (row + 1), the newest last, w the longest row (<= width)."""
    w = max(1, min(width, max((len(r) for r in rows), default=1)))
    out = np.zeros((len(rows), w), dtype=np.int64)
    for j, r in enumerate(rows):
        r = np.asarray(r, dtype=np.int64)[-w:]
        if len(r):
            out[j, w - len(r):] = r + 1
    return torch.as_tensor(out)  # on the default device: a training run on an accelerator sets it


# How a sequence model trains, beside the harness's loop: ``recbench`` (AdamW, cosine decay,
# gradients clipped at 1, the best of the cell's validations over a fixed step budget; a batch
# holds whole sequences, every position predicting its next item) or ``recbole`` (RecBole 1.2.1's
# trainer: the learning rate constant, no clipping, a validation every epoch and early stopping
# after 10 without improvement, the step budget then a cap; and RecBole's data: every prefix of a
# sequence a sample of its own, the loss at its last item only, so an epoch takes as many steps
# as RecBole's). The recipe of the library the papers' rows come from, so that a gap to RecBole's
# figure is the model's and not the schedule's (issue 38).
RECIPES: dict[str, dict[str, Any]] = {
    "recbench": {},
    "recbole": {"lr_schedule": "constant", "clip_norm": 0.0, "patience": 10},
}


@baselines.register("sasrec")
class SASRec:
    name = "sasrec"
    version = "1"
    item_representation = "a learned id embedding"  # what an item is to it (the report's representation table)
    task_kinds = ("sequences",)
    weight_decay = 0.0  # Adam, as RecBole
    warmup_steps = 0
    default_budget = "1200steps"  # a step budget repeats on any machine; about 8 min on amazon-scientific or ml100k here
    tune_space = {"lr": "log:1e-4:1e-2", "dropout": "float:0.1:0.6"}  # recbench tune's default search
    train_devices = ("cpu", "cuda")  # its steps make their tensors on the training device (and its subclasses')

    def __init__(self, arg: str | None = None, hidden: int = 64, layers: int = 2, heads: int = 2, inner: int = 256,
                 dropout: float = 0.5, max_length: int = 50, batch: int = 256, lr: float = 1e-3,
                 recipe: str = "recbench") -> None:
        if recipe not in RECIPES:
            raise ValueError(f"{self.name}: recipe {recipe!r} is not one of {', '.join(RECIPES)}")
        self.recipe = recipe
        for hook_name, value in RECIPES[recipe].items():
            setattr(self, hook_name, value)
        if int(hidden) % int(heads):
            raise ValueError(f"sasrec: hidden ({hidden}) must be a multiple of heads ({heads})")
        self.hidden, self.layers, self.heads, self.inner = int(hidden), int(layers), int(heads), int(inner)
        self.dropout, self.max_length, self.batch = float(dropout), int(max_length), int(batch)
        self.learning_rate = float(lr)
        self.net: SASRecNet | None = None
        self.n_items = 0
        self.cold_rows: torch.Tensor | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "layers": self.layers, "heads": self.heads, "inner": self.inner,
                "dropout": self.dropout, "max_length": self.max_length, "batch": self.batch,
                "lr": self.learning_rate, "loss": "full-catalog cross-entropy", "inputs": "item ids only",
                **self.recipe_params}

    prefix_samples = True  # recipe=recbole trains on RecBole's prefix samples (a cloze model does not)

    @property
    def recipe_params(self) -> dict[str, Any]:
        """The recipe in ``params`` (and so in the checkpoint key) only when it is not the default,
        so that the keys of every earlier cell stay what they were."""
        if self.recipe == "recbench":
            return {}
        return {"recipe": self.recipe, **({"samples": "every prefix, the loss at its last item"}
                                          if self.prefix_samples else {})}

    @property
    def uses_prefix_samples(self) -> bool:
        return self.recipe == "recbole" and self.prefix_samples

    @property
    def validate_every(self) -> int | None:
        """RecBole's recipe validates once an epoch: every pass over the training samples."""
        if self.recipe != "recbole" or not getattr(self, "sequences", None):
            return None
        n = len(self.samples) if self.uses_prefix_samples else len(self.sequences)
        return max(1, n // min(self.batch, n))

    @property
    def n_parameters(self) -> int | None:
        return int(sum(p.numel() for p in self.net.parameters())) if self.net is not None else None

    @property
    def stored_bytes_per_item(self) -> int:
        return self.hidden * 4

    @property
    def details(self) -> dict[str, Any]:
        return {"representation": {"item": self.item_representation}}

    def _build(self, n_items: int, seed: int) -> SASRecNet:
        torch.manual_seed(seed)
        self.n_items = n_items
        self.net = SASRecNet(n_items, self.hidden, self.layers, self.heads, self.inner, self.dropout, self.max_length)
        return self.net

    # --- Trainable ---------------------------------------------------------------------------
    def prepare_training(self, train_task: Any, seed: int) -> nn.Module:
        self.sequences = training_sequences(train_task)
        if not self.sequences:
            raise ValueError(f"{train_task.name}: no training sequence")
        cold = getattr(train_task, "cold_items", None)  # the cold-item protocol: out of the loss too
        self.cold_rows = torch.from_numpy(np.asarray(cold, dtype=bool)) if cold is not None and cold.any() else None
        # RecBole's samples: (sequence, end) for every item with at least one before it
        self.samples = (np.array([(u, e) for u, seq in enumerate(self.sequences) for e in range(1, len(seq))],
                                 dtype=np.int64).reshape(-1, 2) if self.uses_prefix_samples else None)
        return self._build(len(train_task.item_ids), seed)

    def training_batches(self, rng: np.random.Generator) -> Iterator[list[np.ndarray]]:
        if self.samples is not None:
            for rows in shuffled_batches(len(self.samples), self.batch, rng):
                yield [self.sequences[u][max(0, e - self.max_length):e + 1] for u, e in self.samples[rows]]
        else:
            for rows in shuffled_batches(len(self.sequences), self.batch, rng):
                yield [self.sequences[i][-(self.max_length + 1):] for i in rows]

    def training_loss(self, batch: list[np.ndarray]) -> tuple[torch.Tensor, int, int]:
        inputs = left_padded([s[:-1] for s in batch], self.max_length)
        labels = left_padded([s[1:] for s in batch], self.max_length) - 1  # -1 where padded
        if getattr(self, "samples", None) is not None:  # a prefix sample predicts its last item only
            labels[:, :-1] = -1
        logits = self.net.catalog_logits(self.net(inputs))[labels >= 0]
        if self.cold_rows is not None:  # a cold item is no negative either: its embedding stays untrained
            logits = logits.masked_fill(self.cold_rows.to(logits.device), float("-inf"))
        return F.cross_entropy(logits, labels[labels >= 0]), len(batch), 0

    def save_checkpoint(self, folder: Path) -> None:
        torch.save(self.net.state_dict(), folder / "sasrec.pt")
        (folder / "sasrec.json").write_text(json.dumps({**self.params, "n_items": self.n_items}, indent=2))

    def load_checkpoint(self, folder: Path) -> None:
        meta = json.loads((folder / "sasrec.json").read_text())
        self._build(int(meta["n_items"]), 0)
        self.net.load_state_dict(torch.load(folder / "sasrec.pt", map_location="cpu", weights_only=True))
        self.net.eval()

    # --- Ranker ------------------------------------------------------------------------------
    def score_queries(self, task: Any, queries: np.ndarray) -> np.ndarray:
        """Every catalog item's score for each query user, from the last ``max_length`` items."""
        check_scorable("sasrec", self.net is not None, self.n_items, task)
        self.net.eval()

        def score(rows: np.ndarray) -> np.ndarray:
            states = self.net(left_padded([task.history_of(int(i)) for i in rows], self.max_length))
            return self.net.catalog_logits(states[:, -1]).cpu().numpy()

        with torch.no_grad():
            return batched_scores(queries, self.n_items, score)
