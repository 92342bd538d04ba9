"""``pairs:<path>``: a user's own text pairs in a CSV or TSV file with a header row.

Columns are found by name: ``sentence1,sentence2,score`` (or ``text1,text2,score``,
``text_a,text_b,label``) by default, or named after a ``#``:
``pairs:data/my_pairs.tsv#query,document,relevance``. ``.tsv``/``.tab`` files are tab
separated, ``.csv`` comma separated (standard CSV quoting). Any row with a missing field or a
score that is not a finite number is an error that names the file and the line.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from recbench.protocol.data import DataSource
from recbench.protocol.registry import datasets
from recbench.protocol.kinds.tasks import Dataset, PairsTask, fingerprint_files
from recbench.datasets._parsing import DataFormatError, allow_long_fields, parse_score, undecodable

DEFAULT_COLUMNS = (("sentence1", "sentence2", "score"), ("text1", "text2", "score"), ("text_a", "text_b", "label"))


def parse_pairs_spec(arg: str) -> tuple[Path, tuple[str, str, str] | None]:
    path, _, cols = arg.partition("#")
    if not cols:
        return Path(path), None
    names = tuple(c.strip() for c in cols.split(","))
    if len(names) != 3 or not all(names):
        raise ValueError(f"pairs:{arg}: after '#' name three columns: first text, second text, score")
    return Path(path), names  # type: ignore[return-value]


def read_pairs_file(path: Path, columns: tuple[str, str, str] | None) -> tuple[list[str], list[str], list[float]]:
    if not path.is_file():
        raise FileNotFoundError(f"pairs file {path} does not exist")
    allow_long_fields()
    try:
        return _read_pairs(path, columns)
    except UnicodeDecodeError:
        raise undecodable(path) from None
    except csv.Error as exc:
        raise DataFormatError(f"{path}: {exc}") from None


def _read_pairs(path: Path, columns: tuple[str, str, str] | None) -> tuple[list[str], list[str], list[float]]:
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a byte-order mark is read, not kept
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise DataFormatError(f"{path}: empty file; expected a header row")
        header = [h.strip() for h in header]
        if columns is None:
            columns = next((c for c in DEFAULT_COLUMNS if set(c) <= set(header)), None)
            if columns is None:
                raise DataFormatError(
                    f"{path}:1: header {header} has none of the default column sets "
                    f"{[','.join(c) for c in DEFAULT_COLUMNS]}; name yours as pairs:{path}#TEXT1,TEXT2,SCORE"
                )
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataFormatError(f"{path}:1: missing column(s) {missing}; the header has {header}")
        ia, ib, isc = (header.index(c) for c in columns)
        texts_a, texts_b, gold = [], [], []
        rows = iter(reader)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                raise DataFormatError(f"{path}:{reader.line_num}: {exc}") from None
            line_no = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataFormatError(f"{path}:{line_no}: {len(row)} fields, but the header has {len(header)}")
            texts_a.append(row[ia])
            texts_b.append(row[ib])
            gold.append(parse_score(row[isc], path, line_no, columns[2]))
    return texts_a, texts_b, gold


@datasets.register("pairs")
class PairsFile(Dataset):
    kind = "pairs"
    description = "your own text pairs: pairs:<file.csv|file.tsv>[#text1,text2,score]"
    citation = "user data"
    splits = ("test",)
    default_split = "test"
    primary_metric = "spearman"

    def sources(self) -> list[DataSource]:
        if not self.arg:
            return []
        path, _ = parse_pairs_spec(self.arg)
        return [DataSource(subdir=str(path.parent), files={path.name: ""})]

    def load(self, split: str | None = None) -> PairsTask:
        split = self.check_split(split)
        if not self.arg:
            raise ValueError("dataset 'pairs' needs a file: --dataset pairs:path/to/pairs.csv")
        path, columns = parse_pairs_spec(self.arg)
        a, b, g = read_pairs_file(path, columns)
        return PairsTask(self.name, split, a, b, np.array(g), fingerprint=fingerprint_files([path]),
                         info={"file": str(path)})
