"""MIND (Wu et al., ACL 2020): news recommendation impressions, in its official format.

Each split is a folder with ``news.tsv`` (8 tab-separated columns: id, category,
subcategory, title, abstract, url, title entities, abstract entities) and ``behaviors.tsv``
(5 columns: impression id, user, time, clicked history ids separated by spaces, impressions
``N123-1 N456-0``). ``mind-small`` / ``mind-large`` / ``mind-demo`` evaluate the dev split and
count clicks on the train split; ``mind:<dir>`` reads any folder in this format (with
``train/`` and ``dev/`` inside, or news.tsv + behaviors.tsv directly: then it is evaluated and
there is no train split).

Bad input, each counted in the run record:
- ids missing from news.tsv: ``on_missing=error`` (default) stops with the counts and the
  option that continues; ``on_missing=drop`` removes them from histories and candidates
  (an impression left with no candidate is dropped, and counted).
- an empty history: the impression is kept; an encoder then has no profile and scores every
  candidate 0 (a tie: AUC 0.5), which is the honest "no information" answer.
- a malformed impression token (``N123-2``, ``N123``): an error naming file and line.
- an impression whose candidates are all clicked or all not clicked: AUC is undefined there,
  so it is skipped for AUC only (MIND's scorer cannot score it either).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.protocol.data import DataSource
from recbench.protocol.registry import datasets
from recbench.protocol.kinds.tasks import PublishedResult, Dataset, Impressions, ImpressionsTask, fingerprint_files
from recbench.datasets._parsing import DataFormatError

NEWS_COLUMNS = ["id", "category", "subcategory", "title", "abstract", "url", "title_entities", "abstract_entities"]
BEHAVIOR_COLUMNS = ["impression_id", "user", "time", "history", "impressions"]
TEXT_FIELDS = ("title", "abstract", "category", "subcategory")


def _read_tsv(path: Path, columns: list[str], required: int) -> pd.DataFrame:
    """A headerless TSV read as strings; a row with the wrong number of fields is an error
    naming the file and line."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        df = pd.read_csv(path, sep="\t", header=None, quoting=csv.QUOTE_NONE, dtype=str, na_filter=False,
                         names=columns, engine="c", on_bad_lines="error")
    except pd.errors.ParserError as exc:
        raise DataFormatError(f"{path}: {exc} (expected {len(columns)} tab-separated columns)") from None
    # rows with too few fields come back with empty trailing cells: find the first such row
    raw_counts = None
    short = np.zeros(len(df), dtype=bool)
    for col in columns[:required]:
        short |= df[col].to_numpy() == ""
    if short.any():
        raw_counts = [line.count("\t") + 1 for line in path.read_text(encoding="utf-8").split("\n")[: len(df)]]
        bad = [i for i in np.flatnonzero(short) if raw_counts[i] < required]
        if bad:
            line = bad[0] + 1
            raise DataFormatError(
                f"{path}:{line}: {raw_counts[bad[0]]} tab-separated field(s); a row needs at least {required} "
                f"({', '.join(columns[:required])})"
            )
    return df


def read_news(path: Path) -> pd.DataFrame:
    return check_news(_read_tsv(path, NEWS_COLUMNS, required=4), path)


def check_news(df: pd.DataFrame, where: Any) -> pd.DataFrame:
    """A news table (as read, or as the Mix recipe builds it): ids must be unique."""
    dup = df["id"].duplicated()
    if dup.any():
        line = int(np.flatnonzero(dup.to_numpy())[0]) + 1
        raise DataFormatError(f"{where}:{line}: news id {df['id'].iloc[line - 1]!r} appears twice")
    return df


def _split_tokens(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Space-separated tokens of every row, flat, and the row offsets; one C-level split."""
    text = column.to_numpy(dtype=object)
    stripped = [t.strip() for t in text]
    counts = np.array([0 if not t else t.count(" ") + 1 for t in stripped], dtype=np.int64)
    joined = " ".join(t for t in stripped if t)
    tokens = np.array(joined.split(" ") if joined else [], dtype=object)
    if len(tokens) != counts.sum():  # double spaces: fall back to a safe split
        parts = [t.split() for t in stripped]
        counts = np.array([len(p) for p in parts], dtype=np.int64)
        tokens = np.array([tok for p in parts for tok in p], dtype=object)
    return tokens, np.r_[0, np.cumsum(counts)]


def read_behaviors(path: Path, item_index: pd.Index, on_missing: str = "error") -> tuple[Impressions, dict[str, Any]]:
    """behaviors.tsv -> columnar impressions, with every anomaly counted."""
    if on_missing not in ("error", "drop"):
        raise ValueError(f"on_missing must be 'error' or 'drop', not {on_missing!r}")
    return parse_behaviors(_read_tsv(path, BEHAVIOR_COLUMNS, required=5), item_index, on_missing, path)


def parse_behaviors(df: pd.DataFrame, item_index: pd.Index, on_missing: str, path: Any) -> tuple[Impressions, dict[str, Any]]:
    """Behaviour rows (MIND's five string columns; from a file, or built in memory by the Mix
    recipe) -> columnar impressions; ``path`` names where they came from in errors."""
    hist_tokens, hist_off = _split_tokens(df["history"])
    imp_tokens, imp_off = _split_tokens(df["impressions"])

    # labels: every impression token is ID-0 or ID-1 (one rpartition per token: a million
    # tokens in a fraction of a second, where pandas' string methods take seconds)
    parts = [t.rpartition("-") for t in imp_tokens]
    label_text = [p[2] for p in parts]
    ok = np.fromiter((p[1] == "-" and p[2] in ("0", "1") for p in parts), dtype=bool, count=len(parts))
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        row = int(np.searchsorted(imp_off, bad, side="right") - 1)
        raise DataFormatError(
            f"{path}:{row + 1}: impression token {imp_tokens[bad]!r} is not ID-0 or ID-1 (field 'impressions')"
        )
    labels = (np.array(label_text, dtype=object) == "1").astype(np.int8)
    cand_ids = np.array([p[0] for p in parts], dtype=object)

    hist_rows = item_index.get_indexer(hist_tokens) if len(hist_tokens) else np.zeros(0, dtype=np.int64)
    cand_rows = item_index.get_indexer(cand_ids) if len(cand_ids) else np.zeros(0, dtype=np.int64)
    miss_h, miss_c = hist_rows < 0, cand_rows < 0
    report: dict[str, Any] = {
        "impressions_read": int(len(df)),
        "missing_history_ids": int(miss_h.sum()),
        "missing_candidate_ids": int(miss_c.sum()),
        "distinct_missing_ids": int(len(set(hist_tokens[miss_h]) | set(cand_ids[miss_c]))),
        "on_missing": on_missing,
    }
    if (miss_h.any() or miss_c.any()) and on_missing == "error":
        examples = list(dict.fromkeys([*cand_ids[miss_c][:3], *hist_tokens[miss_h][:3]]))[:3]
        first_row = int(min(
            np.searchsorted(hist_off, np.flatnonzero(miss_h)[0], side="right") - 1 if miss_h.any() else len(df),
            np.searchsorted(imp_off, np.flatnonzero(miss_c)[0], side="right") - 1 if miss_c.any() else len(df),
        ))
        raise DataFormatError(
            f"{path}: {report['missing_history_ids']:,} history and {report['missing_candidate_ids']:,} candidate "
            f"references ({report['distinct_missing_ids']:,} distinct ids, e.g. {examples}, first on line "
            f"{first_row + 1}) have no row in news.tsv. Use the news.tsv of the same split, or pass "
            "-D on_missing=drop (--dataset-option) to drop them (they are counted in the run record)."
        )
    hist_rows, hist_off = _drop(hist_rows, hist_off, ~miss_h)
    cand_rows, cand_off = _drop(cand_rows, imp_off, ~miss_c)
    labels = labels[~miss_c]

    keep = np.diff(cand_off) > 0  # an impression with no candidate left cannot be scored
    report["impressions_dropped_no_candidates"] = int((~keep).sum())
    if not keep.all():
        hist_rows, hist_off = _select(hist_rows, hist_off, keep)
        (cand_rows, labels), cand_off = _select_many((cand_rows, labels), cand_off, keep)
        df = df[keep]
    hist_len = np.diff(hist_off)
    pos = np.bincount(np.repeat(np.arange(len(df)), np.diff(cand_off)), weights=labels, minlength=len(df))
    n_cand = np.diff(cand_off)
    report.update({
        "empty_histories": int((hist_len == 0).sum()),
        "impressions_one_label_class": int(((pos == 0) | (pos == n_cand)).sum()),
        "impressions_without_click": int((pos == 0).sum()),
    })
    imps = Impressions(
        ids=df["impression_id"].to_numpy(dtype=object), users=df["user"].to_numpy(dtype=object),
        times=df["time"].to_numpy(dtype=object),
        history=hist_rows.astype(np.int64), history_offsets=hist_off.astype(np.int64),
        candidates=cand_rows.astype(np.int64), candidate_offsets=cand_off.astype(np.int64),
        labels=labels.astype(np.int8),
    )
    return imps, report


def _drop(values: np.ndarray, offsets: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drops flat elements (not rows) and recomputes the offsets."""
    if keep.all():
        return values, offsets
    kept_before = np.r_[0, np.cumsum(keep)]
    return values[keep], kept_before[offsets]


def _select(values: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (out,), off = _select_many((values,), offsets, rows)
    return out, off


def _select_many(arrays: tuple[np.ndarray, ...], offsets: np.ndarray, rows: np.ndarray):
    lengths = np.diff(offsets)
    element_keep = np.repeat(rows, lengths)
    new_off = np.r_[0, np.cumsum(lengths[rows])]
    return tuple(a[element_keep] for a in arrays), new_off


@dataclass
class MindSplit:
    """One split's two tables, as MIND's files hold them (all strings), and where they came from."""

    news: pd.DataFrame
    behaviors: pd.DataFrame
    where: Path  # the folder (or, built in memory, the folder it would be written to)


def read_split_tables(folder: Path) -> MindSplit:
    return MindSplit(read_news(folder / "news.tsv"), _read_tsv(folder / "behaviors.tsv", BEHAVIOR_COLUMNS, required=5),
                     folder)


def build_task(name: str, split: str, test_folder: Path, train_folder: Path | None, on_missing: str,
               extra_info: dict[str, Any] | None = None) -> ImpressionsTask:
    """Reads the evaluated split (and the train split, for click counts) over one item table:
    news.tsv of both splits, deduplicated by id (MIND's splits overlap in news)."""
    if on_missing not in ("error", "drop"):
        raise ValueError(f"on_missing must be 'error' or 'drop', not {on_missing!r}")
    paths = [test_folder / "news.tsv", test_folder / "behaviors.tsv"]
    if train_folder is not None:
        paths += [train_folder / "news.tsv", train_folder / "behaviors.tsv"]
    return task_from_tables(name, split, read_split_tables(test_folder),
                            read_split_tables(train_folder) if train_folder is not None else None,
                            on_missing, fingerprint_files(paths), extra_info)


def task_from_tables(name: str, split: str, test: MindSplit, train: MindSplit | None, on_missing: str,
                     fingerprint: str, extra_info: dict[str, Any] | None = None) -> ImpressionsTask:
    """The impressions task of MIND-format tables, read from files or built in memory (Mix)."""
    frames = [test.news] + ([train.news] if train is not None else [])
    news = pd.concat(frames, ignore_index=True).drop_duplicates("id", keep="first").reset_index(drop=True)
    index = pd.Index(news["id"].to_numpy(dtype=object))
    test_imps, test_report = parse_behaviors(test.behaviors, index, on_missing, test.where / "behaviors.tsv")
    if len(test_imps) == 0:
        raise DataFormatError(f"{test.where / 'behaviors.tsv'}: no impression to evaluate (the file is empty"
                              + (" or every row was dropped)" if on_missing != "error" else ")"))
    info: dict[str, Any] = {"test": test_report, **(extra_info or {})}
    train_imps = None
    if train is not None:
        train_imps, train_report = parse_behaviors(train.behaviors, index, on_missing, train.where / "behaviors.tsv")
        info["train"] = train_report
        info["train_stats"] = train_imps.stats()
    return ImpressionsTask(
        name=name, split=split, item_ids=news["id"].to_numpy(dtype=object),
        item_fields={f: news[f].tolist() for f in TEXT_FIELDS},
        test=test_imps, train=train_imps, fingerprint=fingerprint, info=info,
    )


MIND_FILES = {"news.tsv": "", "behaviors.tsv": ""}


class MindFormat(Dataset):
    """What every MIND-format adapter shares: the kind, the dev split, and ``on_missing``."""

    kind = "impressions"
    splits = ("dev",)
    default_split = "dev"
    primary_metric = "auc"

    def __init__(self, name: str, arg: str | None = None, locator=None, on_missing: str = "error") -> None:
        super().__init__(name, arg, locator)
        self.on_missing = on_missing


class MindRelease(MindFormat):
    """One MIND release: the dev split is evaluated, train gives click counts."""

    citation = "Wu et al. (2020), MIND: A Large-scale Dataset for News Recommendation, ACL"
    licence = "Microsoft Research License Terms (non-commercial research)"
    release = ""  # "small", "large", "demo"
    base_url = "https://mind201910small.blob.core.windows.net/release/"  # the original host; it stopped serving
    # copies tried after it: Microsoft Recommenders' (its MIND download utilities fetch from there).
    # MIND publishes no checksum; an archive whose size is known (Recommenders' listing of its copy)
    # must have that size, so a mirror cannot hand over another cut of the data unnoticed
    mirror_urls: tuple[str, ...] = ("https://recodatasets.z20.web.core.windows.net/newsrec/",)
    archive_bytes = {"MINDsmall_train.zip": 52_994_575, "MINDsmall_dev.zip": 30_948_560}

    def _source(self, part: str) -> DataSource:
        folder = f"MIND{self.release}_{part}"
        zip_name = f"{folder}.zip"
        return DataSource(
            subdir=f"mind/{folder}", files=dict(MIND_FILES), url=self.base_url + zip_name,
            mirrors=tuple(m + zip_name for m in self.mirror_urls if m != self.base_url),
            archive_bytes=self.archive_bytes.get(zip_name),
            homepage="https://msnews.github.io/",
            manual=f"get {zip_name} from https://msnews.github.io/ (accept the licence there) and unzip it into "
                   f"mind/{folder}/ under your data folder (news.tsv and behaviors.tsv directly inside)",
        )

    def sources(self) -> list[DataSource]:
        return [self._source("dev"), self._source("train")]

    def load(self, split: str | None = None) -> ImpressionsTask:
        split = self.check_split(split)
        dev = self.locator.locate(self._source("dev"), self.name)
        train = self.locator.locate(self._source("train"), self.name)
        return build_task(self.name, split, dev, train, self.on_missing)


_MIND_PAPER = ("Wu et al. (2020), MIND, ACL: NRMS as quoted by the seed's bi-encoder writeup, Table 1 "
               "(GloVe 300d, title only)")
_SEED_TABLE3 = "the seed's bi-encoder writeup, Table 3 (MIND-small validation, title only)"
MIND_SMALL_PUBLISHED = tuple(
    PublishedResult(model, metric, value, source, note, ours)
    for model, ours, source, note, figures in (
        ("NRMS", "nrms", _MIND_PAPER, "the MIND paper's test split, not MIND-small dev", (0.6622, 0.3192, 0.3453)),
        ("Bi-Encoder MINCE", "biencoder", _SEED_TABLE3, "gte-modernbert-base, batch 48, 1 epoch",
         (0.6786, 0.3309, 0.3646)),
        ("Bi-Encoder + all components", "biencoder[lora=8,pooling=mix,redundancy=1.0]", _SEED_TABLE3,
         "gte-modernbert-base, LoRA + mix pooling + redundancy", (0.6931, 0.3462, 0.3826)),
    )
    for metric, value in zip(("auc", "mrr", "ndcg@5"), figures)
)


@datasets.register("mind-small")
class MindSmall(MindRelease):
    description = "MIND-small: 50k users; dev 73,152 impressions (download from msnews.github.io)"
    release = "small"
    published = MIND_SMALL_PUBLISHED


@datasets.register("mind-large")
class MindLarge(MindRelease):
    description = "MIND-large: 1M users; dev 376,471 impressions (download from msnews.github.io)"
    release = "large"


@datasets.register("mind-demo")
class MindDemo(MindRelease):
    description = "MIND-demo: 5k users (Microsoft Recommenders' demo cut of MIND)"
    release = "demo"
    base_url = "https://recodatasets.z20.web.core.windows.net/newsrec/"


@datasets.register("mind")
class MindFolder(MindFormat):
    """``mind:<dir>``: any folder in MIND's format."""

    description = "any MIND-format folder: mind:<dir> (train/ + dev/ inside, or news.tsv + behaviors.tsv)"
    citation = "user data in MIND's format"

    def load(self, split: str | None = None) -> ImpressionsTask:
        split = self.check_split(split)
        if not self.arg:
            raise ValueError("dataset 'mind' needs a folder: --dataset mind:path/to/folder")
        root = Path(self.arg)
        if (root / "dev" / "behaviors.tsv").is_file():
            train = root / "train" if (root / "train" / "behaviors.tsv").is_file() else None
            return build_task(self.name, split, root / "dev", train, self.on_missing)
        if (root / "behaviors.tsv").is_file():
            return build_task(self.name, split, root, None, self.on_missing)
        raise FileNotFoundError(f"dataset {self.name!r}: neither {root / 'dev' / 'behaviors.tsv'} nor "
                                f"{root / 'behaviors.tsv'} exists")
