"""The unified task kinds that dataset adapters produce, and the adapter base class.

A task is plain data (numpy arrays and lists) so that the evaluation protocol for its kind
never needs to know which dataset it came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from recbench.protocol.data import DataLocator, DataSource


@dataclass(frozen=True)
class PublishedResult:
    """A figure from the literature, shown beside measured rows, never mixed with them."""

    model: str
    metric: str
    value: float
    citation: str
    note: str = ""  # e.g. which word vectors the paper used
    ours: str = ""  # the model label of ours to show beside it (e.g. "sif")
    # the evaluation rule the source ranked under, where a kind has several (sequences: "kept" when the
    # user's history stayed in the ranking, as in RecBole's, UniSRec's and Recformer's code); our row
    # beside it is the one measured under the same rule
    seen_items: str = "excluded"


@dataclass
class PairsTask:
    """Text pairs with a gold similarity score (STS, Lee).

    ``subsets`` names the subset of each pair (SemEval years have several); aggregate
    figures are computed over subsets by the evaluation protocol.
    """

    name: str
    split: str
    texts_a: list[str]
    texts_b: list[str]
    gold: np.ndarray
    subsets: np.ndarray | None = None
    fingerprint: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = "pairs"

    def __post_init__(self) -> None:
        self.gold = np.asarray(self.gold, dtype=np.float64)
        n = len(self.gold)
        if not (len(self.texts_a) == len(self.texts_b) == n):
            raise ValueError(
                f"{self.name}: {len(self.texts_a)} first texts, {len(self.texts_b)} second texts "
                f"and {n} gold scores; they must be equal"
            )
        if n < 3:
            raise ValueError(f"{self.name}: {n} pairs; a correlation needs at least 3")
        if not np.all(np.isfinite(self.gold)):
            bad = int(np.flatnonzero(~np.isfinite(self.gold))[0])
            raise ValueError(f"{self.name}: gold score of pair {bad} is not a finite number")
        if self.subsets is not None:
            self.subsets = np.asarray(self.subsets)
            if len(self.subsets) != n:
                raise ValueError(f"{self.name}: {len(self.subsets)} subset labels for {n} pairs")

    def __len__(self) -> int:
        return len(self.gold)

    @property
    def sizes(self) -> dict[str, int]:
        return {"pairs": len(self), "distinct_texts": len(set(self.texts_a) | set(self.texts_b))}


class Dataset:
    """Base class of a dataset adapter: metadata plus ``load(split)``.

    Subclasses set the class attributes and implement ``load``; registering one is
    ``@datasets.register("name")`` on the class. ``arg`` is the text after ``name:`` in a
    dataset spec (a path for ``pairs:<path>``).
    """

    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    licence: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ("test",)
    default_split: ClassVar[str] = "test"
    primary_metric: ClassVar[str] = ""
    published: ClassVar[tuple[PublishedResult, ...]] = ()

    def __init__(self, name: str, arg: str | None = None, locator: DataLocator | None = None) -> None:
        self.name = name if arg is None else f"{name}:{arg}"
        self.arg = arg
        self.locator = locator or DataLocator()

    def sources(self) -> list[DataSource]:
        """Where the files come from; used by `recbench datasets` and the look-up."""
        return []

    def present(self) -> list[Path | None]:
        """Each source's folder where a run would find it (None where absent), without
        downloading: what `recbench datasets` reports. A dataset that accepts one of several
        files says so here, as its loader does."""
        return [self.locator.find(s) for s in self.sources()]

    def load(self, split: str | None = None) -> Any:
        raise NotImplementedError

    def check_split(self, split: str | None) -> str:
        split = split or self.default_split
        if split not in self.splits:
            raise ValueError(f"dataset {self.name!r} has no split {split!r}; choose one of {', '.join(self.splits)}")
        return split


def fingerprint_files(paths: list[Path]) -> str:
    """sha256 over the bytes of the files a task was read from: the record's content fingerprint."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda q: q.name):
        h.update(p.name.encode())
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


@dataclass
class Impressions:
    """One split of impressions, columnar: flat arrays plus offsets, so that metrics and
    pooling run over all impressions at once. Item references are row indices into the
    task's item table."""

    ids: np.ndarray  # (n,) impression ids as given
    users: np.ndarray  # (n,) user ids
    times: np.ndarray  # (n,) time strings as given ("" where the source has none)
    history: np.ndarray  # (H,) int64 item rows, clicked before the impression, oldest first
    history_offsets: np.ndarray  # (n + 1,)
    candidates: np.ndarray  # (C,) int64 item rows shown
    candidate_offsets: np.ndarray  # (n + 1,)
    labels: np.ndarray  # (C,) int8, 1 = clicked

    def __len__(self) -> int:
        return len(self.ids)

    def history_of(self, i: int) -> np.ndarray:
        return self.history[self.history_offsets[i] : self.history_offsets[i + 1]]

    def candidates_of(self, i: int) -> np.ndarray:
        return self.candidates[self.candidate_offsets[i] : self.candidate_offsets[i + 1]]

    def stats(self) -> dict[str, float]:
        n = max(len(self), 1)
        return {
            "impressions": int(len(self)),
            "users": int(len(np.unique(self.users))),
            "mean_history_length": float(len(self.history) / n),
            "mean_candidates": float(len(self.candidates) / n),
            "mean_positives": float(self.labels.sum() / n),
        }


@dataclass
class ImpressionsTask:
    """News-style recommendation: items with named text fields, and impressions (a user's
    clicked history + the candidates shown, with click labels). ``train`` feeds models that
    learn from clicks (popularity); ``test`` is evaluated."""

    name: str
    split: str
    item_ids: np.ndarray  # (I,) item ids as given (e.g. "N1234")
    item_fields: dict[str, list[str]]  # field name -> (I,) texts
    test: Impressions
    train: Impressions | None = None
    default_fields: tuple[str, ...] = ("title",)
    fingerprint: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    cold_items: np.ndarray | None = None  # (I,) bool under the cold-item protocol: never in ``train``
    # the rows an encoder encodes (a query sample keeps its whole split's, so that a corpus-fitted
    # model such as SIF fits the same texts); None: those the test impressions reference
    catalog_rows: np.ndarray | None = None

    kind: ClassVar[str] = "impressions"

    def __len__(self) -> int:
        return len(self.test)

    def item_texts(self, fields: tuple[str, ...] | None = None, style: str = "plain") -> list[str]:
        """Each item's text: the chosen fields joined with '. ' (empty fields left out)."""
        return _join_fields(self.item_fields, tuple(fields or self.default_fields), style)

    @property
    def sizes(self) -> dict[str, Any]:
        return {"items": int(len(self.item_ids)), **self.test.stats()}


def blank_cold_texts(item_fields: dict[str, list[str]], cold: np.ndarray) -> dict[str, list[str]]:
    """The item fields with every cold item's text blanked: what a model may train on under the
    cold-item protocol (no text of a cold item reaches an encoder in training)."""
    return {f: ["" if c else t for t, c in zip(texts, cold)] for f, texts in item_fields.items()}


def _join_fields(item_fields: dict[str, list[str]], fields: tuple[str, ...], style: str = "plain") -> list[str]:
    """Items' texts from named fields: ``plain`` joins the non-empty fields with '. ';
    ``kv`` writes Recformer-style key-value sentences ("title: ... brand: ...")."""
    unknown = [f for f in fields if f not in item_fields]
    if unknown:
        raise ValueError(f"unknown item field(s) {unknown}; this dataset has {list(item_fields)}")
    if style not in ("plain", "kv"):
        raise ValueError(f"text style must be 'plain' or 'kv', not {style!r}")
    columns = [item_fields[f] for f in fields]
    if style == "kv":
        return [" ".join(f"{f}: {v}" for f, v in zip(fields, parts) if v) for parts in zip(*columns)]
    if len(fields) == 1:
        return list(columns[0])
    return [". ".join(part for part in parts if part) for parts in zip(*columns)]


@dataclass
class ItemToItemTask:
    """Rank a catalog for each query; relevance judgments say which catalog rows are hits.

    A query is either a catalog item (``query_items``: its row, whose text in the chosen fields
    is the query) or a text of its own (``query_texts``, e.g. a wine's title); ``excluded`` lists, per query, catalog rows that may never count (the query item
    itself). ``relevant`` / ``grades``: per query, the relevant rows and their grades (1 for
    binary judgments)."""

    name: str
    split: str
    item_ids: np.ndarray
    item_fields: dict[str, list[str]]
    relevant: np.ndarray
    relevant_offsets: np.ndarray
    excluded: np.ndarray
    excluded_offsets: np.ndarray
    query_items: np.ndarray | None = None
    query_texts: list[str] | None = None
    grades: np.ndarray | None = None
    default_fields: tuple[str, ...] = ("description",)
    fingerprint: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    # what a trained model may learn from (item-to-item catalogs that carry a train part): tasks
    # over the train items' own catalog, with no evaluated query's text in them
    training: "ItemToItemTask | None" = None
    validation: "ItemToItemTask | None" = None
    # each query's row in the whole split: a --max-queries sample keeps them, so its per-query
    # figures pair with the full run's and with every other row's sample (None: 0, 1, 2, ...)
    query_ids: np.ndarray | None = None

    kind: ClassVar[str] = "item-to-item"

    def __post_init__(self) -> None:
        if (self.query_items is None) == (self.query_texts is None):
            raise ValueError(f"{self.name}: give either query_items or query_texts")

    def __len__(self) -> int:
        return len(self.query_items) if self.query_items is not None else len(self.query_texts or [])

    def item_texts(self, fields: tuple[str, ...] | None = None, style: str = "plain") -> list[str]:
        return _join_fields(self.item_fields, tuple(fields or self.default_fields), style)

    @property
    def sizes(self) -> dict[str, Any]:
        n = max(len(self), 1)
        return {"catalog": int(len(self.item_ids)), "queries": int(len(self)),
                "mean_relevant": float(len(self.relevant) / n)}


@dataclass
class SequencesTask:
    """Next-item prediction by full ranking: each user's chronological history (capped) and
    the item that came next. Items already in the history are excluded from the ranking
    (except the target itself, should the user have re-engaged it). ``train_counts`` counts
    engagements in the training part of every sequence (for popularity)."""

    name: str
    split: str
    item_ids: np.ndarray
    item_fields: dict[str, list[str]]
    users: np.ndarray
    history: np.ndarray
    history_offsets: np.ndarray
    targets: np.ndarray
    train_counts: np.ndarray
    default_fields: tuple[str, ...] = ("title",)
    text_style: str = "plain"
    fingerprint: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    # each user's whole sequence before the target (uncapped, oldest first), what trained models
    # learn from; None: the history is all there is
    past: np.ndarray | None = None
    past_offsets: np.ndarray | None = None
    # the cold-item protocol: True for an item kept out of training (None: protocol off)
    cold_items: np.ndarray | None = None

    kind: ClassVar[str] = "sequences"

    def __len__(self) -> int:
        return len(self.targets)

    def history_of(self, i: int) -> np.ndarray:
        return self.history[self.history_offsets[i] : self.history_offsets[i + 1]]

    def past_of(self, i: int) -> np.ndarray:
        """User ``i``'s whole sequence before the target (the history where no longer one is kept)."""
        if self.past is None or self.past_offsets is None:
            return self.history_of(i)
        return self.past[self.past_offsets[i] : self.past_offsets[i + 1]]

    def item_texts(self, fields: tuple[str, ...] | None = None, style: str | None = None) -> list[str]:
        return _join_fields(self.item_fields, tuple(fields or self.default_fields), style or self.text_style)

    @property
    def sizes(self) -> dict[str, Any]:
        n = max(len(self), 1)
        return {"items": int(len(self.item_ids)), "users": int(len(self)),
                "mean_history_length": float(len(self.history) / n)}
