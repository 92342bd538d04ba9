"""Model capabilities: what a baseline implements, as structural types.

The harness asks what a model *can do* (``isinstance(model, Encoder)``), never what it *is*.
Every baseline also carries ``name`` and ``params`` (recorded in the run record).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence, TypeVar, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """Texts -> one float32 vector each: SIF, average GloVe, SBERT, bi-encoders.

    (Capabilities hold methods only, so that a model *class* can be checked with
    ``issubclass`` before it is built: `recbench list` never loads weights.)"""

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


@runtime_checkable
class CorpusFitted(Protocol):
    """A model that fits unsupervised statistics on a corpus before encoding (SIF's common
    component). The harness calls ``fit_corpus`` with the evaluated texts once, before any
    timing; the model decides whether to use them or a reference corpus of its own."""

    def fit_corpus(self, texts: Sequence[str]) -> None: ...


@runtime_checkable
class ItemScorer(Protocol):
    """A model that scores candidate items without their text: popularity (fitted on the
    train split's engagements) and the random floor. ``fit_counts`` gets each item's engagement
    count in the task's training data (None where the task has none); ``score_items`` returns
    one score per entry of ``rows`` (item rows; a row may repeat, and each occurrence may score
    differently, as pure noise does). Where a model is both an Encoder and an ItemScorer, the
    ranking protocols use the ItemScorer."""

    def fit_counts(self, counts: np.ndarray | None) -> None: ...

    def score_items(self, rows: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class TokenEncoder(Protocol):
    """Texts -> one (tokens, dim) array of unit vectors each, for late interaction (ColBERT).
    ``kind`` is "query" or "document" (ColBERT encodes the two differently). The protocols
    prefer this capability over Encoder where a model has both."""

    def encode_tokens(self, texts: Sequence[str], kind: str = "document", batch_size: int = 32) -> list[np.ndarray]: ...


@runtime_checkable
class PairScorer(Protocol):
    """A model that scores two texts jointly, with no vector per text: BM25 (shared words weighted
    by the pairs' corpus). ``fit_pairs`` sees every distinct text of the task once, untimed, as
    ``CorpusFitted`` does; ``score_pairs`` returns one score per (a, b) pair."""

    def fit_pairs(self, corpus: Sequence[str]) -> None: ...

    def score_pairs(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class Ranker(Protocol):
    """A model that scores a query's items jointly from the task itself (its history, item
    ids, texts) rather than through a pooled encoder: NRMS, SASRec, Recformer, and the
    oracles of the metamorphic tests. ``queries`` are query rows of the task's evaluated
    split. For item-to-item and sequences it returns a (len(queries), n_items) matrix over the
    whole catalog (excluded items are masked by the protocol); for impressions, the flat
    scores of those impressions' candidates, in order. The protocols prefer this capability
    over every other where a model has several."""

    def score_queries(self, task: Any, queries: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Trainable(Protocol):
    """A model the harness trains on the task's train part before evaluating it.

    - ``prepare_training(train_task, seed)``: build what training needs (vocabulary, modules,
      cached frozen features) from the train part only; returns the torch module to optimise.
    - ``training_batches(rng)``: an endless iterator of batches; ``training_loss(batch)`` returns
      ``(loss tensor, examples in the batch, texts encoded)``.
    - ``learning_rate``: the peak learning rate (``warmup_steps`` optional, default 50); these
      and the other optional hooks are declared, typed, in ``model_contract.HOOKS``.
    - ``save_checkpoint(folder)`` / ``load_checkpoint(folder)``: everything scoring needs.
    - ``weights_changed()`` (optional): called whenever the loop swaps weights in (the
      validation-chosen state after training), so caches of item vectors are dropped.
    After training (or loading), the model must score through its other capabilities."""

    def prepare_training(self, train_task: Any, seed: int) -> Any: ...

    def training_batches(self, rng: np.random.Generator) -> Iterator[Any]: ...

    def training_loss(self, batch: Any) -> tuple[Any, int, int]: ...

    def save_checkpoint(self, folder: Path) -> None: ...

    def load_checkpoint(self, folder: Path) -> None: ...


# The order in which every protocol, the reranker and the cell's checks pick the one capability a
# model is served through, where it has several (random is an Encoder and an ItemScorer).
SERVED_THROUGH: tuple[tuple[str, type], ...] = (
    ("ranker", Ranker),  # scores a query's items jointly from the task: the trained recommenders, the oracles
    ("item_scorer", ItemScorer),  # scores items without their text: popularity, the random floor
    ("pair_scorer", PairScorer),  # two texts scored jointly: BM25 on the pairs kind
    ("token_encoder", TokenEncoder),  # late interaction over token vectors: ColBERT
    ("encoder", Encoder),  # one vector per text, pooled and compared by cosine
)
T = TypeVar("T")


def served_as(model_or_class: Any, among: Iterable[str] | None = None) -> str | None:
    """The capability a model (or model class) is served through: the first of ``SERVED_THROUGH``
    it has (of those in ``among``, the ones a protocol serves); None for none of them."""
    has = issubclass if isinstance(model_or_class, type) else isinstance
    allowed = None if among is None else set(among)
    return next((name for name, capability in SERVED_THROUGH
                 if (allowed is None or name in allowed) and has(model_or_class, capability)), None)


def dispatch(model: Any, handlers: Mapping[str, Callable[[], T]], where: str) -> T:
    """Calls the handler of the capability ``model`` is served through, of those the protocol has
    handlers for: the one place the protocols tell capabilities apart (random, an Encoder and an
    ItemScorer, is noise where a protocol scores item scorers and an encoder elsewhere)."""
    served = served_as(model, handlers)
    if served is None:
        raise TypeError(f"{where}: {getattr(model, 'name', type(model).__name__)!r} has none of the capabilities "
                        f"this protocol serves ({', '.join(handlers)})")
    return handlers[served]()
