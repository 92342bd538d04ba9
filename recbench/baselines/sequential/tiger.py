"""A generative recommender in TIGER's manner (Rajput et al., NeurIPS 2023), framed by P5's
item-indexing study: every item is a short tuple of codes (``_item_codes``; ``indexing=semantic``
RQ-KMeans over frozen MiniLM vectors by default, or random / sequential / collaborative /
hybrid), a user's history is the sequence of its items' code tokens, and a small T5
encoder-decoder, trained from scratch, *generates* the next item's tuple token by token. Serving
is a beam search constrained to tuples that exist (a prefix trie over the catalog), so the beam
ends on real items; ranking metrics come from the beam (best first) and every item outside it
ties below it (the harness's tie rule gives their expected rank).

Sizes for 2 CPU cores: d_model 64, 2 encoder + 2 decoder layers, 2 heads, feed-forward 256
(about 0.3M parameters with the code embeddings; TIGER's has 4 + 4 layers of 128 and about 13M:
a training step here reads 256 histories of 80 tokens, and at d_model 128 it cost 2.6 s on one
busy core), the last 20 items of the history (TIGER's setting), beam 20. Training: for each sequence of a batch, a random cut gives a history and the
next item to generate (teacher-forced cross-entropy over its tokens); AdamW at 1e-3, batch 256.
Each level's codes get their own tokens (level l, code c), so a token says where it stands.

TIGER's own shape (for a GPU, or a long resumable CPU run): ``-o d_model=128 -o layers=4 -o heads=6
-o d_kv=64 -o d_ff=1024 -o dropout=0.1 -o indexing=rqvae`` (3 levels of 256 codes and the collision
level; ``indexing=semantic`` gives RQ-KMeans codes beside it).

The cold-item protocol: the code books are fitted on the items training sees; a cold item gets
its codes from its text at serving and sits in the trie, so the model can generate it when its
prefixes are ones training taught (semantic indexing) and cannot in any meaningful way when its
codes carry no meaning (random).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from recbench.baselines.sequential._item_codes import FittedIndexing, IndexingSpec, cached_indexing, code_stats
from recbench.baselines._lazy import LazyModule, lazy_names
from recbench.baselines.sequential._sequences_training import check_scorable, seen_items, shuffled_batches, training_sequences
from recbench.baselines.sequential.unisrec import item_vectors
from recbench.protocol.registry import baselines

torch, F = LazyModule("torch"), LazyModule("torch.nn.functional")
small_t5, CodeTrie, constrained_beam_search = lazy_names(
    "recbench.baselines.sequential._tiger_net", "small_t5", "CodeTrie", "constrained_beam_search")

OUTSIDE_BEAM = -1e9  # the score of every item the beam did not reach: all tie, below the beam
FIRST_CODE_TOKEN = 2  # 0 pads (and starts the decoder), 1 ends a sequence
PRECISIONS = ("fp32", "bf16")
LENGTH_GROUPS = 4  # a training batch is encoded in this many groups of similar history length


@baselines.register("tiger")
class TIGER:
    name = "tiger"
    version = "1"
    task_kinds = ("sequences",)
    uses_ids = False
    weight_decay = 0.01
    warmup_steps = 100
    default_budget = "2000steps"
    train_devices = ("cpu", "cuda")

    def __init__(self, arg: str | None = None, indexing: str = "semantic", levels: int = 3, codes: int = 256,
                 branching: int = 16, indexing_seed: int = 0, d_model: int = 64, layers: int = 2, heads: int = 2,
                 d_ff: int = 256, dropout: float = 0.1, history: int = 20, beam: int = 20, batch: int = 256,
                 lr: float = 1e-3, validation_queries: int = 1000, d_kv: int | None = None,
                 precision: str = "fp32", validate_every: int | None = None, patience: int | None = None) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"tiger: precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        if (validate_every is None) != (patience is None):
            raise ValueError("tiger: validate_every and patience go together (validate every N steps, stop after "
                             "`patience` validations without a better figure); give both or neither")
        self.precision = str(precision)
        # the loop's hooks (None: the cell's spread of validations over the whole budget)
        self.validate_every = None if validate_every is None else int(validate_every)
        self.patience = None if patience is None else int(patience)
        if (self.validate_every is not None and self.validate_every < 1) or (self.patience is not None and self.patience < 1):
            raise ValueError("tiger: validate_every and patience must be 1 or more")
        self.d_kv = None if d_kv is None else int(d_kv)
        self.spec = IndexingSpec(method=str(indexing), levels=int(levels), codes=int(codes),
                                 branching=int(branching), seed=int(indexing_seed))
        self.d_model, self.layers, self.heads, self.d_ff = int(d_model), int(layers), int(heads), int(d_ff)
        self.dropout, self.history, self.beam, self.batch = float(dropout), int(history), int(beam), int(batch)
        self.learning_rate = float(lr)
        self.validation_queries = int(validation_queries)
        self.indexing: FittedIndexing | None = None
        self.level_sizes: list[int] = []
        self.net: Any = None
        self.n_items = 0
        self._catalog: tuple[Any, np.ndarray, Any] | None = None  # (task, item tokens, trie)
        self._stats: dict[str, Any] | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {"indexing": self.spec.method, "levels": self.spec.levels, "codes": self.spec.codes,
                "branching": self.spec.branching, "indexing_seed": self.spec.seed, "d_model": self.d_model,
                "layers": self.layers, "heads": self.heads, "d_ff": self.d_ff, "dropout": self.dropout,
                "history": self.history, "beam": self.beam, "batch": self.batch, "lr": self.learning_rate,
                "loss": "next item's code tokens, teacher-forced cross-entropy",
                "inputs": "the history's item code tokens", **({"d_kv": self.d_kv} if self.d_kv else {}),
                **self._long_run_params, **self.spec.params}

    @property
    def _long_run_params(self) -> dict[str, Any]:
        """The options of a long run in ``params`` (and so in the checkpoint key) only when set, so
        that the keys of every earlier cell stay what they were."""
        return {**({"precision": self.precision} if self.precision != "fp32" else {}),
                **({"validate_every": self.validate_every, "patience": self.patience} if self.validate_every else {})}

    def _autocast(self, device_type: str) -> Any:
        """bf16 autocast for the matrix products where asked (AVX-512 BF16 on this CPU); the
        losses and log-probabilities stay fp32."""
        return torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    @property
    def n_parameters(self) -> int | None:
        return int(sum(p.numel() for p in self.net.parameters())) if self.net is not None else None

    @property
    def stored_bytes_per_item(self) -> int:
        """A served generative model keeps each item's code tuple (for the trie), not a vector."""
        return int(sum(max(1, int(np.ceil(np.log2(max(2, s)) / 8))) for s in self.level_sizes))

    @property
    def details(self) -> dict[str, Any]:
        return {"representation": {"item": f"{self.spec.method} code tuple, generated", "beam": self.beam,
                                   **(self._stats or {})}}

    # --- codes and tokens --------------------------------------------------------------------
    def _tokens(self, codes: np.ndarray) -> np.ndarray:
        """Codes -> tokens: level l's code c is token FIRST_CODE_TOKEN + (sizes before l) + c; a
        code past its level's size (a new item's collision number) takes the level's last token."""
        offsets = FIRST_CODE_TOKEN + np.r_[0, np.cumsum(self.level_sizes)[:-1]]
        capped = np.minimum(codes, np.asarray(self.level_sizes) - 1)
        return (capped + offsets[None]).astype(np.int64)

    @property
    def vocab(self) -> int:
        return FIRST_CODE_TOKEN + int(sum(self.level_sizes))

    def _use_catalog(self, task: Any) -> tuple[np.ndarray, Any]:
        """This catalog's item tokens and trie (cold items placed by their text where the
        indexing reads text), kept while the task stays."""
        if self._catalog is not None and self._catalog[0] is task:
            return self._catalog[1], self._catalog[2]
        codes = self.indexing.codes_for(item_vectors(task))
        tokens = self._tokens(codes)
        unique = len(np.unique(tokens, axis=0))
        trie = CodeTrie(tokens, self.vocab)
        self._stats = {**code_stats(codes, self.spec), "tuples_in_trie": len(trie.item_of),
                       "items_sharing_a_tuple_after_capping": int(len(tokens) - unique)}
        self._catalog = (task, tokens, trie)
        return tokens, trie

    def _encoder_inputs(self, tokens: np.ndarray, histories: list[np.ndarray]) -> tuple[Any, Any]:
        width = self.history * tokens.shape[1]
        ids = np.zeros((len(histories), width), dtype=np.int64)
        for j, h in enumerate(histories):
            flat = tokens[np.asarray(h, dtype=np.int64)[-self.history:]].ravel()
            if len(flat):
                ids[j, width - len(flat):] = flat
        used = np.flatnonzero(ids.any(axis=0))  # left padding: the columns every row pads are dropped,
        ids = ids[:, used[0] if len(used) else width - 1:]  # exact (T5's positions are relative)
        ids_t = torch.as_tensor(ids)  # on the default device: a training run on an accelerator sets it
        return ids_t, (ids_t != 0).long()

    # --- Trainable ---------------------------------------------------------------------------
    def prepare_training(self, train_task: Any, seed: int) -> Any:
        self.sequences = [s for s in training_sequences(train_task) if len(s) >= 2]
        if not self.sequences:
            raise ValueError(f"{train_task.name}: no training sequence of two items or more")
        seen = seen_items(self.sequences, len(train_task.item_ids))
        vectors = item_vectors(train_task)  # cold texts blank; no code book sees them
        self.indexing = cached_indexing(self.spec, vectors, seen, self.sequences)
        codes = self.indexing.codes_for(vectors)
        self.level_sizes = [int(codes[:, level].max()) + 1 for level in range(codes.shape[1])]
        self.level_sizes[-1] += 1  # room for one more collision number than training saw
        self._build(len(train_task.item_ids), seed)
        self._train_tokens = self._tokens(codes)
        self._catalog = None
        return self.net

    def _build(self, n_items: int, seed: int) -> Any:
        self.n_items = n_items
        self.net = small_t5(self.vocab, self.d_model, self.layers, self.heads, self.d_ff, self.dropout, seed, self.d_kv)
        return self.net

    def training_batches(self, rng: np.random.Generator) -> Iterator[list[tuple[np.ndarray, int]]]:
        for rows in shuffled_batches(len(self.sequences), self.batch, rng):
            batch = []
            for i in rows:
                seq = self.sequences[i]
                cut = int(rng.integers(1, len(seq)))  # a random prefix predicts its next item
                batch.append((seq[max(0, cut - self.history):cut], int(seq[cut])))
            yield batch

    def training_loss(self, batch: list[tuple[np.ndarray, int]]) -> tuple[Any, int, int]:
        """The batch's mean cross-entropy, computed in ``LENGTH_GROUPS`` groups of histories of
        similar length (each encoded at its own longest one's width; most histories here are 1-3
        items and one long history in 256 would pad them all): every target has the same number of
        tokens, so the size-weighted sum of the groups' means is the batch's mean, the same
        gradient at a fraction of the padded work (``benchmarks/bench_training.py``)."""
        order = np.argsort([len(h) for h, _ in batch], kind="stable")
        total = None
        for group in np.array_split(order, min(LENGTH_GROUPS, len(batch))):
            ids, attention = self._encoder_inputs(self._train_tokens, [batch[i][0] for i in group])
            labels = torch.as_tensor(self._train_tokens[[batch[i][1] for i in group]])
            with self._autocast(ids.device.type):
                out = self.net(input_ids=ids, attention_mask=attention, labels=labels)
            part = out.loss.float() * (len(group) / len(batch))
            total = part if total is None else total + part
        return total, len(batch), 0

    def save_checkpoint(self, folder: Path) -> None:
        torch.save(self.net.state_dict(), folder / "tiger.pt")
        (folder / "tiger.json").write_text(json.dumps({**self.params, "n_items": self.n_items,
                                                       "level_sizes": self.level_sizes}, indent=2))
        np.savez(folder / "indexing.npz", **self.indexing.arrays())

    def load_checkpoint(self, folder: Path) -> None:
        meta = json.loads((folder / "tiger.json").read_text())
        with np.load(folder / "indexing.npz", allow_pickle=False) as z:
            self.indexing = FittedIndexing.from_arrays(self.spec, {k: z[k] for k in z.files})
        self.level_sizes = [int(s) for s in meta["level_sizes"]]
        self._build(int(meta["n_items"]), 0)
        self.net.load_state_dict(torch.load(folder / "tiger.pt", map_location="cpu", weights_only=True))
        self.net.eval()
        self._catalog = None

    # --- Ranker ------------------------------------------------------------------------------
    def score_queries(self, task: Any, queries: np.ndarray) -> np.ndarray:
        """The beam's items get their log-probabilities; every other item ``OUTSIDE_BEAM``."""
        check_scorable("tiger", self.net is not None, self.n_items, task, before="generates")
        tokens, trie = self._use_catalog(task)
        self.net.eval()
        out = np.full((len(queries), self.n_items), OUTSIDE_BEAM, dtype=np.float32)
        for s in range(0, len(queries), 64):
            rows = queries[s : s + 64]
            ids, attention = self._encoder_inputs(tokens, [task.history_of(int(i)) for i in rows])
            with self._autocast(ids.device.type):
                items, logps = constrained_beam_search(self.net, ids, attention, trie, self.beam)
            for j, (its, lps) in enumerate(zip(items, logps)):
                # two items can share a tuple only past the last collision token: keep the first
                for item, lp in zip(its, lps):
                    if out[s + j, item] == OUTSIDE_BEAM:
                        out[s + j, item] = lp
        return out
