"""Wine reviews (Kaggle "Wine Reviews", zynicide 2017) as item-to-item retrieval, after
RecoBERT (Malkiel et al., EMNLP 2020), whose expert annotations are not public here.

Files: ``winemag-data-130k-v2.csv`` (14 columns with an ``id`` first) or
``winemag-data_first150k.csv`` (the older layout, 11 columns with an unnamed index column).
A row with fewer fields than the header (a file cut off mid-record, as the shared copy is) is
reported by line and left out; every complete row is kept.

- ``wine-tdm``: RecoBERT's title-description matching as retrieval: the query is a wine's
  title, the one relevant document its own review, among all reviews.
- ``wine-similar``: the query is a review; relevant are the *other* reviews of the same
  variety from the same province (the query's own review never counts). Queries with no
  other review of their kind are skipped and counted.
- ``wine-expert:<csv>``: RecoBERT's expert annotation layout (seed wine title and url,
  recommended title and url, "text only ranking (1-5)", "general rank"): each seed's
  recommended wines are its relevant items, graded by the text-only ranking (nDCG uses the
  grade; MRR and HR count every listed wine). Titles are matched to the catalog; unmatched
  ones are counted.

**Train and test items.** RecoBERT trains on the catalog itself, so every wine dataset splits
its items into train and test by a hash of the item id (``sha256("<split_seed>:<id>")`` read as
a number in [0, 1) below ``test_fraction`` = 0.2 is a test item; ``-D test_fraction=...``,
``-D split_seed=...``). Queries come from test items only; retrieval still runs over the whole
catalog; every model, zero-shot ones included, is scored on the same test queries. A trained
model sees the train part only: title-description matching over the train items (``training``)
with a seeded 500 of them held out as its validation slice (``validation``, retrieval among
those 500 only), so no test item's text reaches training or checkpoint choice. A test item
with an empty title cannot be a wine-tdm query (counted as ``queries_skipped_empty_title``).
"""

from __future__ import annotations

import csv
import hashlib
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from recbench.protocol.data import DataSource
from recbench.protocol.registry import datasets
from recbench.protocol.kinds.tasks import Dataset, ItemToItemTask, fingerprint_files
from recbench.datasets._parsing import DataFormatError

FIELDS = ("description", "title", "variety", "winery", "province", "country", "designation", "region_1")
CANDIDATE_FILES = ("winemag-data-130k-v2.csv", "winemag-data-130k-v2.first-rows.csv", "winemag-data_first150k.csv")


def read_wine_reviews(path: Path) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """The complete rows' fields, and a report of every incomplete row (line, id, fields)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a byte-order mark is read, not kept
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataFormatError(f"{path}: empty file")
        header = [h.strip() for h in header]
        if header and header[0] == "":
            header[0] = "id"  # the 150k layout's unnamed index column
        missing = [c for c in ("description", "variety", "province") if c not in header]
        if missing:
            raise DataFormatError(f"{path}:1: missing column(s) {missing}; the header has {header}")
        cols = {c: header.index(c) for c in FIELDS + ("id",) if c in header}
        out: dict[str, list[str]] = {c: [] for c in FIELDS + ("id",)}
        cut: list[dict[str, Any]] = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                cut.append({"line": reader.line_num, "id": row[0] if row else "", "fields": len(row),
                            "expected": len(header)})
                continue
            for c in out:
                out[c].append(row[cols[c]].strip() if c in cols else "")
    if not out["description"]:
        raise DataFormatError(f"{path}: no complete review rows")
    return out, cut


WINE_SOURCE = DataSource(
    subdir="wine",
    files={"winemag-data-130k-v2.csv": ""},
    homepage="https://www.kaggle.com/datasets/zynicide/wine-reviews",
    manual="download winemag-data-130k-v2.csv from Kaggle (zynicide/wine-reviews; a Kaggle login is needed) "
           "into wine/ under your data folder",
)


VALIDATION_ITEMS = 500


def held_out_item_mask(ids: list[str], test_fraction: float, split_seed: int) -> np.ndarray:
    """True for test items: sha256("<split_seed>:<id>") as a fraction of 2**64 below ``test_fraction``
    (stable under reordering, adding or removing other items)."""
    digest = [int.from_bytes(hashlib.sha256(f"{split_seed}:{i}".encode()).digest()[:8], "big") for i in ids]
    return np.array(digest, dtype=np.float64) / 2.0 ** 64 < test_fraction


def title_matching_task(name: str, split: str, fields: dict[str, list[str]], rows: np.ndarray,
                        info: dict[str, Any]) -> ItemToItemTask:
    """RecoBERT's title-description matching over the catalog of ``rows`` only: each item's title
    retrieves its own review among theirs (the train part and validation slice)."""
    sub = {k: [v[r] for r in rows] for k, v in fields.items() if k != "id"}
    n = len(rows)
    return ItemToItemTask(
        name=name, split=split, item_ids=np.array([fields["id"][r] for r in rows], dtype=object), item_fields=sub,
        query_texts=list(sub["title"]), relevant=np.arange(n), relevant_offsets=np.arange(n + 1),
        excluded=np.zeros(0, dtype=np.int64), excluded_offsets=np.zeros(n + 1, dtype=np.int64),
        default_fields=("description",), info=info)


class WineDataset(Dataset):
    kind = "item-to-item"
    citation = "zynicide (2017), Wine Reviews, Kaggle; tasks after Malkiel et al. (2020), RecoBERT, EMNLP Findings"
    licence = "CC BY-NC-SA 4.0"
    splits = ("test",)
    default_split = "test"
    primary_metric = "ndcg@10"

    def __init__(self, name: str, arg: str | None = None, locator=None, test_fraction: float = 0.2,
                 split_seed: int = 0) -> None:
        super().__init__(name, arg, locator)
        self.test_fraction, self.split_seed = float(test_fraction), int(split_seed)
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"dataset {name!r}: test_fraction must lie strictly between 0 and 1, not {test_fraction}")

    def sources(self) -> list[DataSource]:
        return [WINE_SOURCE]

    def _split(self, fields: dict[str, list[str]], fingerprint: str) -> tuple[np.ndarray, dict[str, Any]]:
        """The test-item mask and the train part (``training``, ``validation`` tasks + info)."""
        ids = [i or str(r) for r, i in enumerate(fields["id"])]
        fields["id"] = ids
        is_test = held_out_item_mask(ids, self.test_fraction, self.split_seed)
        train_rows = np.flatnonzero(~is_test)
        n_valid = min(VALIDATION_ITEMS, len(train_rows) // 5)
        if not is_test.any() or n_valid < 1:
            raise ValueError(
                f"dataset {self.name!r}: its {len(ids):,} items split {self.test_fraction:.0%} test by id hash give "
                f"{int(is_test.sum())} test and {len(train_rows)} train items; the split needs at least one test "
                f"item and five train items (use a bigger catalog or change -D test_fraction)")
        rng = np.random.default_rng(self.split_seed)
        valid_rows = np.sort(rng.choice(train_rows, size=n_valid, replace=False))
        fit_rows = np.setdiff1d(train_rows, valid_rows)
        info = {"test_fraction": self.test_fraction, "split_seed": self.split_seed,
                "split_rule": "test item: sha256('<split_seed>:<id>') / 2**64 < test_fraction",
                "test_items": int(is_test.sum()), "train_items": int(len(fit_rows)), "validation_items": int(n_valid)}
        shared = {"shared_train_part": f"wine catalog train items (test_fraction={self.test_fraction:g}, "
                                       f"split_seed={self.split_seed})"}  # one checkpoint for every wine task
        parts = {"training": title_matching_task(self.name, "train", fields, fit_rows, {"part": "train", **shared}),
                 "validation": title_matching_task(self.name, "valid", fields, valid_rows, {"part": "valid", **shared})}
        for part in parts.values():
            part.fingerprint = fingerprint
        return is_test, {"parts": parts, "info": info}

    def _reviews_file(self) -> Path | None:
        """The first of the accepted review files that is present (the full file, its
        first-rows cut, the older 150k file)."""
        for name in CANDIDATE_FILES:
            folder = self.locator.find(DataSource(subdir="wine", files={name: ""}))
            if folder is not None:
                return folder / name
        return None

    def present(self) -> list[Path | None]:
        found = self._reviews_file()
        extra = [self.locator.find(s) for s in self.sources()[1:]]  # wine-expert's annotation file
        return [found.parent if found else None, *extra]

    def _reviews(self) -> tuple[dict[str, list[str]], list[dict[str, Any]], Path]:
        path = self._reviews_file()
        if path is None:
            self.locator.locate(WINE_SOURCE, self.name)  # raises with every path tried
            raise AssertionError("unreachable")
        fields, cut = read_wine_reviews(path)
        for c in cut:
            print(f"warning: {path}:{c['line']}: record cut off ({c['fields']} of {c['expected']} fields, "
                  f"id {c['id']!r}); left out", file=sys.stderr)
        return fields, cut, path

    @staticmethod
    def _flat(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.array([len(x) for x in lists], dtype=np.int64)
        flat = np.array([v for x in lists for v in x], dtype=np.int64)
        return flat, np.r_[0, np.cumsum(lengths)]


@datasets.register("wine-tdm")
class WineTDM(WineDataset):
    description = "wine reviews: a wine's title retrieves its own review among all reviews (RecoBERT's TDM)"

    def load(self, split: str | None = None) -> ItemToItemTask:
        split = self.check_split(split)
        fields, cut, path = self._reviews()
        fingerprint = fingerprint_files([path])
        is_test, train_part = self._split(fields, fingerprint)
        n = len(fields["description"])
        queries = np.array([r for r in np.flatnonzero(is_test) if fields["title"][r]], dtype=np.int64)
        return ItemToItemTask(
            name=self.name, split=split, item_ids=np.array(fields["id"], dtype=object),
            item_fields={k: v for k, v in fields.items() if k != "id"},
            query_texts=[fields["title"][r] for r in queries],
            relevant=queries, relevant_offsets=np.arange(len(queries) + 1),
            excluded=np.zeros(0, dtype=np.int64), excluded_offsets=np.zeros(len(queries) + 1, dtype=np.int64),
            default_fields=("description",), fingerprint=fingerprint, **train_part["parts"],
            info={"file": path.name, "reviews": n, "cut_rows": cut, **train_part["info"],
                  "queries_skipped_empty_title": int(is_test.sum() - len(queries))},
        )


@datasets.register("wine-similar")
class WineSimilar(WineDataset):
    description = "wine reviews: a review retrieves the other reviews of its variety from its province"

    def load(self, split: str | None = None) -> ItemToItemTask:
        split = self.check_split(split)
        fields, cut, path = self._reviews()
        fingerprint = fingerprint_files([path])
        is_test, train_part = self._split(fields, fingerprint)
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, key in enumerate(zip(fields["variety"], fields["province"])):
            groups[key].append(i)
        queries, relevant, excluded = [], [], []
        skipped = 0
        for i, key in enumerate(zip(fields["variety"], fields["province"])):
            if not is_test[i]:
                continue
            others = [j for j in groups[key] if j != i]
            if not others or not key[0] or not key[1]:
                skipped += 1
                continue
            queries.append(i)
            relevant.append(others)
            excluded.append([i])
        rel, rel_off = self._flat(relevant)
        exc, exc_off = self._flat(excluded)
        return ItemToItemTask(
            name=self.name, split=split, item_ids=np.array(fields["id"], dtype=object),
            item_fields={k: v for k, v in fields.items() if k != "id"},
            query_items=np.array(queries, dtype=np.int64),
            relevant=rel, relevant_offsets=rel_off, excluded=exc, excluded_offsets=exc_off,
            default_fields=("description",), fingerprint=fingerprint, **train_part["parts"],
            info={"file": path.name, "reviews": len(fields["description"]), "cut_rows": cut, **train_part["info"],
                  "queries_skipped_no_other_review_of_their_kind": skipped},
        )


EXPERT_COLUMNS = ("seed wine title", "recommended title", "text only ranking (1-5)")


@datasets.register("wine-expert")
class WineExpert(WineDataset):
    description = "RecoBERT's expert annotations over the wine catalog: wine-expert:<annotations.csv>"

    def sources(self) -> list[DataSource]:
        return [WINE_SOURCE] + ([DataSource(subdir=str(Path(self.arg).parent), files={Path(self.arg).name: ""})]
                                if self.arg else [])

    def present(self) -> list[Path | None]:
        return super().present() + ([] if self.arg else [None])  # the annotation file is the user's to give

    def load(self, split: str | None = None) -> ItemToItemTask:
        split = self.check_split(split)
        if not self.arg:
            raise ValueError("dataset 'wine-expert' needs the annotation file: --dataset wine-expert:path/to/file.csv")
        fields, cut, path = self._reviews()
        is_test, train_part = self._split(fields, fingerprint_files([path]))
        by_title: dict[str, int] = {}
        for i, t in enumerate(fields["title"]):
            by_title.setdefault(t.strip().lower(), i)
        ann = Path(self.arg)
        if not ann.is_file():
            raise FileNotFoundError(f"wine-expert: annotation file {ann} does not exist")
        seeds: dict[int, list[tuple[int, float]]] = {}
        unmatched = train_seed_rows = 0
        with open(ann, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            missing = [c for c in EXPERT_COLUMNS if c not in header]
            if missing:
                raise DataFormatError(f"{ann}:1: missing column(s) {missing}; the header has {reader.fieldnames}")
            for row in reader:
                row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                line = reader.line_num
                seed = by_title.get(row["seed wine title"].lower())
                rec = by_title.get(row["recommended title"].lower())
                try:
                    grade = float(row["text only ranking (1-5)"])
                except ValueError:
                    raise DataFormatError(f"{ann}:{line}: field 'text only ranking (1-5)' is "
                                          f"{row['text only ranking (1-5)']!r}, not a number") from None
                if not 1 <= grade <= 5:
                    raise DataFormatError(f"{ann}:{line}: field 'text only ranking (1-5)' is {grade}, outside 1-5")
                if seed is None or rec is None:
                    unmatched += 1
                    continue
                if not is_test[seed]:
                    train_seed_rows += 1
                    continue
                seeds.setdefault(seed, []).append((rec, grade))
        order = sorted(seeds)
        rel, rel_off = self._flat([[r for r, _ in seeds[s]] for s in order])
        grades = np.array([g for s in order for _, g in seeds[s]], dtype=np.float64)
        exc, exc_off = self._flat([[s] for s in order])
        return ItemToItemTask(
            name=self.name, split=split, item_ids=np.array(fields["id"], dtype=object),
            item_fields={k: v for k, v in fields.items() if k != "id"},
            query_items=np.array(order, dtype=np.int64), relevant=rel, relevant_offsets=rel_off,
            excluded=exc, excluded_offsets=exc_off, grades=grades, default_fields=("description",),
            fingerprint=fingerprint_files([path, ann]), **train_part["parts"],
            info={"file": path.name, "annotations": ann.name, "seeds": len(order), "unmatched_rows": unmatched,
                  "rows_of_train_item_seeds": train_seed_rows, "cut_rows": cut, **train_part["info"]},
        )
