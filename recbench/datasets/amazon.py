"""Amazon reviews as sequential next-item prediction (Recformer's setting).

- ``amazon-scientific``: "Industrial and Scientific" as processed by UniSRec (Hou et al.,
  KDD 2022) and used by Recformer: ``Scientific.text`` (ASIN, "title. categories. brand."),
  ``Scientific.item2index`` and ``Scientific.{valid,test}.inter`` (user, history, next
  item). A user's sequence is their test history followed by the test target; our
  leave-one-out split then reproduces UniSRec's valid and test targets exactly (tested).
- ``amazon-unisrec:<dir>``: any other category in that layout (``<dir>/<Name>.text`` ...,
  where Name is the folder's name).
- ``amazon:<dir>``: raw Amazon 2018 files (McAuley lab): one reviews file (JSON lines with
  reviewerID, asin, unixReviewTime) and one ``meta_*`` file (asin, title, brand, category),
  plain or .gz. Interactions are filtered to the 5-core (every user and item at least 5,
  repeated until stable), ordered by time (ties by ASIN); item text from title, categories
  and brand. Items without metadata are dropped before the 5-core and counted.

Item text can be flattened as key-value pairs (``-D text_style=kv``: "title: ... categories:
... brand: ...", Recformer's item sentences) or plain (default: fields joined by '. ').
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from recbench.protocol.data import DataSource
from recbench.protocol.registry import datasets
from recbench.protocol.kinds.tasks import PublishedResult, SequencesTask, fingerprint_files
from recbench.datasets._logs import InteractionLog, LogSource, register_log_source
from recbench.datasets._parsing import DataFormatError
from recbench.datasets._sequences import first_seen_times, SequenceDataset, leave_one_out, user_sequences

RECFORMER = "Li et al. (2023), Text Is All You Need: Learning Language Representations for Sequential Recommendation (Recformer), KDD, Table 2"
SCIENTIFIC_PUBLISHED = tuple(
    PublishedResult(model, metric, value, RECFORMER, note, ours, seen_items="kept")  # its ranking code keeps the history
    for model, ndcg, recall, ours, note in (
        ("GRU4Rec", 0.0826, 0.1055, "gru4rec", "trained on Scientific; full ranking"),
        ("SASRec", 0.0797, 0.1305, "sasrec", "trained on Scientific; full ranking"),
        ("BERT4Rec", 0.0790, 0.1061, "bert4rec", "trained on Scientific; full ranking"),
        ("UniSRec", 0.0862, 0.1255, "unisrec", "BERT text vectors, pre-trained on other Amazon categories, then "
                                               "fine-tuned on Scientific (ours: MiniLM vectors, hidden 64, no "
                                               "pre-training)"),
        ("Recformer", 0.1027, 0.1448, "recformer", "Longformer pre-trained on 7 other Amazon categories, then "
                                                   "fine-tuned on Scientific (ours: MiniLM, no pre-training, 128 tokens)"))
    for metric, value in (("ndcg@10", ndcg), ("recall@10", recall))
)


def split_unisrec_text(text: pd.Series) -> dict[str, list[str]]:
    """"title. categories. brand. " -> three fields (split from the right: titles hold dots)."""
    parts = text.str.strip().str.rstrip(".").str.rsplit(". ", n=2)
    return {
        "title": parts.str[0].fillna("").tolist(),
        "categories": parts.map(lambda p: p[1] if len(p) > 2 else "").tolist(),
        "brand": parts.map(lambda p: p[-1] if len(p) > 1 else "").tolist(),
    }


@dataclass
class UniSRecFiles:
    """UniSRec's three files of one category, read and checked once: the items in index order,
    the text table in file order, and each user's sequence as item indices."""

    asins: np.ndarray  # asin of item index i
    text: pd.DataFrame  # columns item_id:token, text:token_seq, in file order
    users: list[str]
    sequences: list[np.ndarray]
    paths: list[Path]


def read_unisrec_files(folder: Path, name: str) -> UniSRecFiles:
    """The one reader of UniSRec's layout (``<Name>.text``, ``.item2index``, ``.test.inter``):
    errors name the file and line."""
    text_path, index_path, test_path = folder / f"{name}.text", folder / f"{name}.item2index", folder / f"{name}.test.inter"
    index = pd.read_csv(index_path, sep="\t", header=None, names=["asin", "idx"], dtype=str, na_filter=False)
    idx = pd.to_numeric(index["idx"], errors="coerce")
    if idx.isna().any() or not np.array_equal(np.sort(idx.to_numpy()), np.arange(len(index))):
        raise DataFormatError(f"{index_path}: the indices must be 0..{len(index) - 1}, one per line")
    asins = index["asin"].to_numpy(dtype=object)[np.argsort(idx.to_numpy())]
    text = pd.read_csv(text_path, sep="\t", dtype=str, na_filter=False, quoting=3)
    if list(text.columns[:2]) != ["item_id:token", "text:token_seq"]:
        raise DataFormatError(f"{text_path}:1: expected columns item_id:token, text:token_seq; got {list(text.columns)}")
    known = set(text["item_id:token"])
    missing = [a for a in asins if a not in known]
    if missing:
        raise DataFormatError(f"{text_path}: {len(missing)} item(s) of {index_path.name} have no text, e.g. {missing[:3]}")
    seqs = pd.read_csv(test_path, sep="\t", dtype=str, na_filter=False)
    users, sequences = [], []
    n = len(asins)
    for line_no, (user, hist, target) in enumerate(seqs.iloc[:, :3].itertuples(index=False, name=None), start=2):
        try:
            seq = np.array([int(x) for x in hist.split()] + [int(target)], dtype=np.int64)
        except ValueError:
            raise DataFormatError(f"{test_path}:{line_no}: item indices must be integers") from None
        if seq.min() < 0 or seq.max() >= n:
            bad = int(seq[(seq < 0) | (seq >= n)][0])
            raise DataFormatError(f"{test_path}:{line_no}: item {bad} has no text (not in {index_path.name})")
        users.append(user)
        sequences.append(seq)
    return UniSRecFiles(asins, text, users, sequences, [text_path, index_path, test_path])


def read_unisrec(folder: Path, name: str) -> tuple[np.ndarray, dict[str, list[str]], list[str], list[np.ndarray], list[Path]]:
    """For the sequences adapter: the items' fields in index order, users and their sequences."""
    files = read_unisrec_files(folder, name)
    by_asin = pd.Series(files.text["text:token_seq"].to_numpy(), index=files.text["item_id:token"])
    fields = split_unisrec_text(by_asin.reindex(files.asins).reset_index(drop=True))
    return files.asins, fields, files.users, files.sequences, files.paths


def read_unisrec_log(folder: Path, name: str = "Scientific") -> InteractionLog:
    """For the Mix recipe: UniSRec's files as an interaction log (the sequences in file order, no
    timestamps), the item table in the text file's order; the same reader and text split as the
    sequences adapter."""
    files = read_unisrec_files(folder, name)
    fields = split_unisrec_text(files.text["text:token_seq"])
    categories, brand = pd.Series(fields["categories"], dtype=object), pd.Series(fields["brand"], dtype=object)
    news = pd.DataFrame({"id": files.text["item_id:token"], "category": "", "subcategory": "", "title": fields["title"],
                         "abstract": (categories + ". " + brand).str.strip(". ")})
    users = [u for u, seq in zip(files.users, files.sequences) for _ in seq]
    items = [a for seq in files.sequences for a in files.asins[seq]]
    return InteractionLog(users=np.array(users, dtype=object), items=np.array(items, dtype=object), timestamps=None,
                          news=news, source_files=files.paths)


class UniSRecCategory(SequenceDataset):
    citation = "Ni et al. (2019) Amazon reviews; processed by Hou et al. (2022), UniSRec, KDD"
    licence = "Amazon review data, research use"

    def _folder(self) -> tuple[Path, str]:
        raise NotImplementedError

    def load(self, split: str | None = None) -> SequencesTask:
        split = self.check_split(split)
        folder, name = self._folder()
        asins, fields, users, seqs, paths = read_unisrec(folder, name)
        return leave_one_out(self.name, split, asins, fields, users, seqs,
                             default_fields=("title", "categories", "brand"), text_style=self.text_style,
                             fingerprint=fingerprint_files(paths), info={"layout": "UniSRec", "category": name},
                             cold=self.cold)  # UniSRec's files hold no times: cold_by=time is refused


SCIENTIFIC = DataSource(
    subdir="amazon/Scientific",
    files={"Scientific.text": "", "Scientific.item2index": "", "Scientific.test.inter": ""},
    homepage="https://github.com/RUCAIBox/UniSRec",
    manual="get UniSRec's processed 'Scientific' files (Scientific.text, .item2index, .test.inter) into "
           "amazon/Scientific/ under your data folder",
)
register_log_source(LogSource("amazon-scientific", read_unisrec_log, SCIENTIFIC))  # behind amazon-scientific-mix


@datasets.register("amazon-scientific")
class AmazonScientific(UniSRecCategory):
    description = "Amazon Industrial & Scientific (UniSRec/Recformer): next item by full ranking over 4,385 items"
    published = SCIENTIFIC_PUBLISHED

    def sources(self) -> list[DataSource]:
        return [SCIENTIFIC]

    def _folder(self) -> tuple[Path, str]:
        return self.locator.locate(SCIENTIFIC, self.name), "Scientific"


@datasets.register("amazon-unisrec")
class AmazonUniSRecFolder(UniSRecCategory):
    description = "any Amazon category in UniSRec's layout: amazon-unisrec:<dir> (<dir>/<Name>.text ...)"

    def _folder(self) -> tuple[Path, str]:
        if not self.arg:
            raise ValueError("dataset 'amazon-unisrec' needs a folder: --dataset amazon-unisrec:path/to/Name")
        folder = Path(self.arg)
        name = folder.name
        for suffix in (".text", ".item2index", ".test.inter"):
            if not (folder / f"{name}{suffix}").is_file():
                raise FileNotFoundError(f"dataset {self.name!r}: {folder / (name + suffix)} does not exist")
        return folder, name


# --- raw Amazon 2018 json --------------------------------------------------------------------
def iter_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{path}:{line_no}: not a JSON object ({exc.msg})") from None


def five_core(users: np.ndarray, items: np.ndarray, k: int = 5) -> np.ndarray:
    """Mask of interactions in the k-core: users and items with at least k, until stable."""
    keep = np.ones(len(users), dtype=bool)
    while True:
        uc = Counter(users[keep])
        ic = Counter(items[keep])
        new = keep & np.array([uc[u] >= k for u in users]) & np.array([ic[i] >= k for i in items])
        if new.sum() == keep.sum():
            return new
        keep = new


@datasets.register("amazon")
class AmazonRaw(SequenceDataset):
    description = "raw Amazon 2018 reviews + metadata json: amazon:<dir> (5-core, time order)"
    citation = "Ni, Li & McAuley (2019), Justifying recommendations using distantly-labeled reviews, EMNLP"
    licence = "Amazon review data, research use"

    def __init__(self, name: str, arg: str | None = None, locator=None, text_style: str = "plain",
                 core: int = 5, cold: float = 0.0, cold_by: str = "hash", cold_seed: int = 0) -> None:
        super().__init__(name, arg, locator, text_style, cold, cold_by, cold_seed)
        self.core = int(core)

    def load(self, split: str | None = None) -> SequencesTask:
        split = self.check_split(split)
        if not self.arg:
            raise ValueError("dataset 'amazon' needs a folder: --dataset amazon:path/to/folder")
        folder = Path(self.arg)
        files = sorted(p for p in folder.iterdir() if p.name.endswith((".json", ".json.gz")))
        meta = [p for p in files if p.name.startswith("meta_")]
        reviews = [p for p in files if not p.name.startswith("meta_")]
        if len(meta) != 1 or len(reviews) != 1:
            raise FileNotFoundError(f"dataset {self.name!r}: {folder} must hold one reviews file and one meta_* file "
                                    f"(.json or .json.gz); found {[p.name for p in files]}")
        text: dict[str, dict[str, str]] = {}
        for line_no, obj in iter_json_lines(meta[0]):
            if "asin" not in obj:
                raise DataFormatError(f"{meta[0]}:{line_no}: no 'asin' field")
            cats = obj.get("category") or []
            text[obj["asin"]] = {"title": str(obj.get("title", "")).strip(), "brand": str(obj.get("brand", "")).strip(),
                                 "categories": " ".join(str(c) for c in cats) if isinstance(cats, list) else str(cats)}
        users, items, times = [], [], []
        for line_no, obj in iter_json_lines(reviews[0]):
            missing = [f for f in ("reviewerID", "asin", "unixReviewTime") if f not in obj]
            if missing:
                raise DataFormatError(f"{reviews[0]}:{line_no}: missing field(s) {missing}")
            users.append(obj["reviewerID"])
            items.append(obj["asin"])
            times.append(int(obj["unixReviewTime"]))
        u, it, t = np.array(users, dtype=object), np.array(items, dtype=object), np.array(times, dtype=np.int64)
        has_text = np.array([a in text and bool(text[a]["title"]) for a in it], dtype=bool)
        no_text = int((~has_text).sum())
        u, it, t = u[has_text], it[has_text], t[has_text]
        keep = five_core(u, it, self.core)
        u, it, t = u[keep], it[keep], t[keep]
        asins = np.array(sorted(set(it)), dtype=object)
        row = pd.Index(asins).get_indexer(it)
        user_ids, seqs = user_sequences(u, row, t, it)  # by time, ties by asin
        fields = {f: [text[a][f] for a in asins] for f in ("title", "categories", "brand")}
        return leave_one_out(self.name, split, asins, fields, user_ids, seqs,
                             default_fields=("title", "categories", "brand"), text_style=self.text_style,
                             fingerprint=fingerprint_files([meta[0], reviews[0]]),
                             info={"interactions_without_text": no_text, "core": self.core,
                                   "interactions_kept": int(len(row))},
                             cold=self.cold, first_seen=first_seen_times(row, t, len(asins)))
