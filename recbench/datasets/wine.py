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
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from recbench.benchmark.data import DataSource
from recbench.benchmark.registry import datasets
from recbench.benchmark.tasks import Dataset, ItemToItemTask, fingerprint_files
from recbench.datasets._parsing import DataFormatError

FIELDS = ("description", "title", "variety", "winery", "province", "country", "designation", "region_1")
CANDIDATE_FILES = ("winemag-data-130k-v2.csv", "winemag-data-130k-v2.first-rows.csv", "winemag-data_first150k.csv")


def read_wine_reviews(path: Path) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """The complete rows' fields, and a report of every incomplete row (line, id, fields)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with open(path, newline="", encoding="utf-8") as f:
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


class WineDataset(Dataset):
    kind = "item-to-item"
    citation = "zynicide (2017), Wine Reviews, Kaggle; tasks after Malkiel et al. (2020), RecoBERT, EMNLP Findings"
    licence = "CC BY-NC-SA 4.0"
    splits = ("test",)
    default_split = "test"
    primary_metric = "ndcg@10"

    def sources(self) -> list[DataSource]:
        return [WINE_SOURCE]

    def _reviews(self) -> tuple[dict[str, list[str]], list[dict[str, Any]], Path]:
        for name in CANDIDATE_FILES:
            src = DataSource(subdir="wine", files={name: ""})
            folder = self.locator.find(src)
            if folder is not None:
                path = folder / name
                break
        else:
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
        n = len(fields["description"])
        return ItemToItemTask(
            name=self.name, split=split, item_ids=np.array(fields["id"], dtype=object),
            item_fields={k: v for k, v in fields.items() if k != "id"}, query_texts=list(fields["title"]),
            relevant=np.arange(n), relevant_offsets=np.arange(n + 1),
            excluded=np.zeros(0, dtype=np.int64), excluded_offsets=np.zeros(n + 1, dtype=np.int64),
            default_fields=("description",), fingerprint=fingerprint_files([path]),
            info={"file": path.name, "reviews": n, "cut_rows": cut},
        )


@datasets.register("wine-similar")
class WineSimilar(WineDataset):
    description = "wine reviews: a review retrieves the other reviews of its variety from its province"

    def load(self, split: str | None = None) -> ItemToItemTask:
        split = self.check_split(split)
        fields, cut, path = self._reviews()
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, key in enumerate(zip(fields["variety"], fields["province"])):
            groups[key].append(i)
        queries, relevant, excluded = [], [], []
        skipped = 0
        for i, key in enumerate(zip(fields["variety"], fields["province"])):
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
            default_fields=("description",), fingerprint=fingerprint_files([path]),
            info={"file": path.name, "reviews": len(fields["description"]), "cut_rows": cut,
                  "queries_skipped_no_other_review_of_their_kind": skipped},
        )


EXPERT_COLUMNS = ("seed wine title", "recommended title", "text only ranking (1-5)")


@datasets.register("wine-expert")
class WineExpert(WineDataset):
    description = "RecoBERT's expert annotations over the wine catalog: wine-expert:<annotations.csv>"

    def sources(self) -> list[DataSource]:
        return [WINE_SOURCE] + ([DataSource(subdir=str(Path(self.arg).parent), files={Path(self.arg).name: ""})]
                                if self.arg else [])

    def load(self, split: str | None = None) -> ItemToItemTask:
        split = self.check_split(split)
        if not self.arg:
            raise ValueError("dataset 'wine-expert' needs the annotation file: --dataset wine-expert:path/to/file.csv")
        fields, cut, path = self._reviews()
        by_title: dict[str, int] = {}
        for i, t in enumerate(fields["title"]):
            by_title.setdefault(t.strip().lower(), i)
        ann = Path(self.arg)
        if not ann.is_file():
            raise FileNotFoundError(f"wine-expert: annotation file {ann} does not exist")
        seeds: dict[int, list[tuple[int, float]]] = {}
        unmatched = 0
        with open(ann, newline="", encoding="utf-8") as f:
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
            fingerprint=fingerprint_files([path, ann]),
            info={"file": path.name, "annotations": ann.name, "seeds": len(order), "unmatched_rows": unmatched,
                  "cut_rows": cut},
        )
