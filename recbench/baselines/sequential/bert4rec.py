"""BERT4Rec (Sun et al., CIKM 2019) on item ids only: the bidirectional reference of Recformer's
Table 2 (NDCG@10 0.0790 on Scientific), trained by the harness as SASRec is.

Settings as RecBole's BERT4Rec: hidden 64, 2 bidirectional self-attention blocks (2 heads,
feed-forward 256, GELU), dropout 0.2, the last 50 items, learned positions. Training is the
cloze task: 20% of a sequence's items (at least one) are replaced by a [mask] token and
predicted by cross-entropy over the whole catalog; Adam at 1e-3, batch 256 sequences. To
recommend, a [mask] is appended after the user's last 49 items and its prediction ranks the
catalog.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recbench.baselines._lazy import LazyModule, lazy_names
from recbench.baselines.sequential.sasrec import SASRec, left_padded
from recbench.protocol.registry import baselines
from recbench.baselines.sequential._sequences_training import batched_scores, check_scorable, shuffled_batches

torch, F = LazyModule("torch"), LazyModule("torch.nn.functional")
(BERT4RecNet,) = lazy_names("recbench.baselines.sequential._idseq_nets", "BERT4RecNet")


@baselines.register("bert4rec")
class BERT4Rec(SASRec):
    name = "bert4rec"
    version = "1"
    default_budget = "1200steps"
    tune_space = {"lr": "log:1e-4:1e-2", "dropout": "float:0.0:0.5", "mask_ratio": "float:0.1:0.6"}  # recbench tune's default search
    prefix_samples = False  # a cloze model masks whole sequences: recipe=recbole changes its loop only

    def __init__(self, arg: str | None = None, hidden: int = 64, layers: int = 2, heads: int = 2, inner: int = 256,
                 dropout: float = 0.2, max_length: int = 50, batch: int = 256, lr: float = 1e-3,
                 mask_ratio: float = 0.2, recipe: str = "recbench") -> None:
        super().__init__(arg, hidden, layers, heads, inner, dropout, max_length, batch, lr, recipe)
        self.mask_ratio = float(mask_ratio)
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"bert4rec: mask_ratio must lie in (0, 1), not {mask_ratio}")

    @property
    def params(self) -> dict[str, Any]:
        return {**super().params, "mask_ratio": self.mask_ratio, "loss": "cloze: full-catalog cross-entropy at masked items"}

    def _build(self, n_items: int, seed: int) -> Any:
        torch.manual_seed(seed)
        self.n_items = n_items
        self.net = BERT4RecNet(n_items, self.hidden, self.layers, self.heads, self.inner, self.dropout, self.max_length)
        return self.net

    def training_batches(self, rng: np.random.Generator):
        for rows in shuffled_batches(len(self.sequences), self.batch, rng):
            seqs = [self.sequences[i][-self.max_length:] for i in rows]
            masks = []
            for seq in seqs:  # the masked positions, drawn here so that the batch is the seed's
                m = rng.random(len(seq)) < self.mask_ratio
                if not m.any():
                    m[rng.integers(len(seq))] = True
                masks.append(m)
            yield list(zip(seqs, masks))

    def training_loss(self, batch: list[tuple[np.ndarray, np.ndarray]]) -> tuple[Any, int, int]:
        ids = left_padded([s for s, _ in batch], self.max_length)
        masked = torch.zeros_like(ids, dtype=torch.bool)
        for j, (s, m) in enumerate(batch):
            masked[j, ids.shape[1] - len(s):] = torch.from_numpy(m)
        labels = ids[masked] - 1
        inputs = ids.masked_fill(masked, self.net.mask_id)
        logits = self.net.catalog_logits(self.net(inputs)[masked])
        if self.cold_rows is not None:  # a cold item is no negative either: its embedding stays untrained
            logits = logits.masked_fill(self.cold_rows.to(logits.device), float("-inf"))
        return F.cross_entropy(logits, labels), len(batch), 0

    def score_queries(self, task: Any, queries: np.ndarray) -> np.ndarray:
        """Every catalog item's score for each user: the prediction at a [mask] appended after
        the user's last ``max_length - 1`` items."""
        check_scorable("bert4rec", self.net is not None, self.n_items, task)
        self.net.eval()

        def score(rows: np.ndarray) -> np.ndarray:
            hist = left_padded([task.history_of(int(i))[-(self.max_length - 1):] for i in rows], self.max_length - 1)
            ids = torch.cat([hist, torch.full((len(rows), 1), self.net.mask_id, dtype=hist.dtype)], dim=1)
            return self.net.catalog_logits(self.net(ids)[:, -1]).cpu().numpy()

        with torch.no_grad():
            return batched_scores(queries, self.n_items, score)
