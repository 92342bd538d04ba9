"""Any interaction log as a dataset: ``interactions:<dir>`` reads two plain CSV files.

``<dir>/interactions.csv``: a header with ``user``, ``item`` and ``timestamp`` (any number:
seconds, days, an order), optionally ``rating``; one engagement per row.
``<dir>/items.csv``: a header with ``item`` and one or more text columns (``title``, ...);
one row per item. Every text column is an item field (``--fields`` picks among them; all of
them, in file order, by default).

As a sequences dataset (``--dataset interactions:<dir>``) each user's engagements in time order
are split leave-one-out, as for ml100k. As impressions, ``recbench datasets build-impressions
interactions:<dir> --out DIR`` writes Mix-style MIND files (the recipe in ``mix.py``).

What the reader does with bad rows (each counted in the task's ``info`` and, with file and
line, in a warning; nothing is dropped silently):
- a row with the wrong number of fields, an empty user/item or a user id holding a tab or a
  line break: malformed, left out;
- an item id that ``items.csv`` does not have: left out (the log cannot give it a text);
- a row repeating an earlier (user, item, timestamp): a duplicate, left out;
- a missing timestamp: the row is placed just after the same user's previous row in the file
  (just before the user's first timestamped row, for rows before it), keeping its place in the
  file among that user's rows. Rows with equal timestamps are ordered by the item's row in
  ``items.csv``, as for every log. Without a ``timestamp`` column at all, the file's order is
  the time order (Mix negatives then come popularity-matched, as for Amazon's UniSRec files);
- a timestamp or rating that is not a number: an error naming file and line;
- users with one engagement: counted where a split cannot use them (``users_skipped_too_short``,
  ``users_skipped_one_engagement``);
- ``-D min_rating=4`` keeps only rows rated at least 4 (needs the ``rating`` column).
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.protocol.registry import datasets
from recbench.protocol.kinds.tasks import SequencesTask, fingerprint_files
from recbench.datasets._logs import InteractionLog, LogSource, register_log_source
from recbench.datasets._parsing import DataFormatError, allow_long_fields, parse_score, undecodable
from recbench.datasets._sequences import first_seen_times, SequenceDataset, leave_one_out, user_sequences

INTERACTIONS, ITEMS = "interactions.csv", "items.csv"
SHOWN = 3  # examples of each problem named in the warning


@dataclass
class LogProblems:
    """What the reader left out or stood in, by kind, with the first few file:line examples."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, where: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.examples.setdefault(kind, [])) < SHOWN:
            self.examples[kind].append(where)

    def warn(self) -> None:
        for kind, n in self.counts.items():
            print(f"warning: {n:,} {kind.replace('_', ' ')}: {', '.join(self.examples[kind])}"
                  f"{' ...' if n > SHOWN else ''}", file=sys.stderr)


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and (line number, fields) of every row; a file that is not UTF-8 CSV fails naming the line."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: interactions:<dir> needs {INTERACTIONS} and {ITEMS} in the folder")
    rows: list[tuple[int, list[str]]] = []
    allow_long_fields()
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheet exports start with a BOM
        try:
            first = f.readline()
            f.seek(0)
            # a .csv that is really tab-separated (a common export) is read as such
            reader = csv.reader(f, delimiter="\t" if "\t" in first and "," not in first else ",")
            header = [h.strip() for h in next(reader)]
            for fields in reader:
                rows.append((reader.line_num, fields))
        except StopIteration:
            raise DataFormatError(f"{path}:1: the file is empty (a header line is needed)") from None
        except UnicodeDecodeError:
            raise undecodable(path) from None
        except csv.Error as exc:
            raise DataFormatError(f"{path}:{reader.line_num}: {exc}") from None
    return header, rows


def read_items(path: Path) -> pd.DataFrame:
    """``items.csv`` as a frame: ``item`` then the text columns, one row per item."""
    header, rows = _read_rows(path)
    if "item" not in header:
        raise DataFormatError(f"{path}:1: missing column 'item'; the header has {header}")
    text_columns = [h for h in header if h != "item"]
    if not text_columns:
        raise DataFormatError(f"{path}:1: no text column beside 'item' (e.g. title)")
    seen: dict[str, int] = {}
    records = []
    for line, fields in rows:
        if len(fields) != len(header):
            raise DataFormatError(f"{path}:{line}: {len(fields)} fields where the header has {len(header)}")
        rec = dict(zip(header, fields))
        item = rec["item"].strip()
        if not item or any(c.isspace() for c in item):
            raise DataFormatError(f"{path}:{line}: item id {item!r} is empty or holds whitespace")
        if item in seen:
            raise DataFormatError(f"{path}:{line}: item {item!r} is listed twice (first on line {seen[item]})")
        seen[item] = line
        records.append({"item": item, **{c: rec[c].strip() for c in text_columns}})
    if not records:
        raise DataFormatError(f"{path}: no items")
    return pd.DataFrame.from_records(records, columns=["item", *text_columns])


def read_log(folder: Path, min_rating: float | None = None) -> tuple[InteractionLog, list[str], LogProblems]:
    """Both files as an :class:`InteractionLog` (the form the Mix builder takes), the item text
    columns, and what was left out or stood in."""
    folder = Path(folder)
    inter_path, item_path = folder / INTERACTIONS, folder / ITEMS
    items = read_items(item_path)
    text_columns = list(items.columns[1:])
    header, rows = _read_rows(inter_path)
    missing = [c for c in ("user", "item") if c not in header]
    if missing:
        raise DataFormatError(f"{inter_path}:1: missing column(s) {missing}; the header has {header}")
    if min_rating is not None and "rating" not in header:
        raise DataFormatError(f"{inter_path}:1: min_rating needs a 'rating' column; the header has {header}")
    col = {h: i for i, h in enumerate(header)}
    has_time = "timestamp" in col
    known = set(items["item"])
    problems = LogProblems()
    users, its, stamps, lines = [], [], [], []
    seen: set[tuple[str, str, str]] = set()
    for line, fields in rows:
        where = f"{inter_path.name}:{line}"
        if len(fields) != len(header):
            problems.add("malformed_rows_left_out", where)
            continue
        user, item = fields[col["user"]].strip(), fields[col["item"]].strip()
        if not user or not item or any(c in user for c in "\t\r\n"):  # MIND's files are tab/line separated
            problems.add("malformed_rows_left_out", where)
            continue
        if item not in known:
            problems.add("rows_with_unknown_items_left_out", f"{where} ({item!r})")
            continue
        stamp = fields[col["timestamp"]].strip() if has_time else ""
        if min_rating is not None and parse_score(fields[col["rating"]], inter_path, line, "rating") < min_rating:
            problems.add("rows_below_min_rating_left_out", where)
            continue
        key = (user, item, stamp)
        if key in seen:
            problems.add("duplicate_rows_left_out", where)
            continue
        seen.add(key)
        users.append(user)
        its.append(item)
        stamps.append(parse_score(stamp, inter_path, line, "timestamp") if stamp else None)
        lines.append(line)
        if has_time and not stamp:
            problems.add("missing_timestamps_stood_in", where)
    if not users:
        raise DataFormatError(f"{inter_path}: no usable engagement ({problems.counts or 'the file has no rows'})")
    timestamps = _stand_in(users, stamps) if has_time else None
    news = pd.DataFrame({"id": items["item"], "category": "", "subcategory": "",
                         "title": items[text_columns[0]],
                         "abstract": _join(items[text_columns[1:]]) if len(text_columns) > 1 else "",
                         **{c: items[c] for c in text_columns}})
    log = InteractionLog(users=np.array(users, dtype=object), items=np.array(its, dtype=object),
                         timestamps=timestamps, news=news, source_files=[inter_path, item_path])
    return log, text_columns, problems


def _join(frame: pd.DataFrame) -> pd.Series:
    """Non-empty fields joined with '. ', as item texts are everywhere."""
    return frame.apply(lambda row: ". ".join(v for v in row if v), axis=1)


def _stand_in(users: list[str], stamps: list[float | None]) -> np.ndarray:
    """A missing timestamp is placed just after the same user's previous one in the file (the
    next representable number, so it keeps its place in the file among the user's rows); rows
    before a user's first timestamp just before that one; a user with none at all in file order."""
    out = np.zeros(len(stamps), dtype=np.float64)
    first: dict[str, float] = {}
    leading: dict[str, list[int]] = {}
    last: dict[str, float] = {}
    for i, (u, s) in enumerate(zip(users, stamps)):
        if s is not None:
            first.setdefault(u, s)
            last[u] = out[i] = s
        elif u in last:
            last[u] = out[i] = np.nextafter(last[u], np.inf)
        else:
            leading.setdefault(u, []).append(i)
    for u, rows in leading.items():
        t = first.get(u, 0.0)
        for i in reversed(rows):
            t = out[i] = np.nextafter(t, -np.inf)
    return out


def read_log_warning(folder: Path) -> InteractionLog:
    """The log for the Mix recipe; its problems are warned with file and line, not dropped silently."""
    log, _, problems = read_log(folder)
    problems.warn()
    return log


register_log_source(LogSource("interactions", read_log_warning, None, needs_folder_argument=True))


@datasets.register("interactions")
class Interactions(SequenceDataset):
    description = "your interaction log: interactions.csv (user, item, timestamp[, rating]) + items.csv (item, texts)"
    citation = "your own data"
    licence = "yours"

    def __init__(self, name: str, arg: str | None = None, locator=None, text_style: str = "plain",
                 min_rating: float | None = None, cold: float = 0.0, cold_by: str = "hash",
                 cold_seed: int = 0) -> None:
        super().__init__(name, arg, locator, text_style, cold, cold_by, cold_seed)
        self.min_rating = None if min_rating is None else float(min_rating)

    def sources(self):
        return []

    def load(self, split: str | None = None) -> SequencesTask:
        split = self.check_split(split)
        if not self.arg:
            raise ValueError("dataset 'interactions' needs a folder: --dataset interactions:path/to/dir "
                             f"(holding {INTERACTIONS} and {ITEMS})")
        log, text_columns, problems = read_log(Path(self.arg), self.min_rating)
        problems.warn()
        item_ids = log.news["id"].to_numpy(dtype=object)
        rows = pd.Index(log.news["id"]).get_indexer(log.items)
        # by time, ties by item row; without timestamps the file's order
        keys = (log.timestamps, rows) if log.timestamps is not None else ()
        users, seqs = user_sequences(log.users, rows, *keys)
        fields = {c: log.news[c].tolist() for c in text_columns}
        info: dict[str, Any] = {"engagements": int(len(rows)), **problems.counts,
                                "time_order": "timestamp" if log.timestamps is not None else "file order"}
        first_seen = first_seen_times(rows, log.timestamps, len(item_ids)) if log.timestamps is not None else None
        return leave_one_out(self.name, split, item_ids, fields, users, seqs, default_fields=tuple(text_columns),
                             text_style=self.text_style, fingerprint=fingerprint_files(log.source_files), info=info,
                             cold=self.cold, first_seen=first_seen)
