"""Shared helpers for reading tabular text files with errors that name file and line."""

from __future__ import annotations

import math
from pathlib import Path


class DataFormatError(ValueError):
    """A malformed input file; the message names the file, the line and the field."""


def parse_score(value: str, path: Path, line_no: int, field: str) -> float:
    try:
        score = float(value)
    except ValueError:
        raise DataFormatError(f"{path}:{line_no}: field {field!r} is {value.strip()[:40]!r}, not a number") from None
    if not math.isfinite(score):
        raise DataFormatError(f"{path}:{line_no}: field {field!r} is {value.strip()!r}, not a finite number")
    return score


def undecodable(path: Path, encoding: str = "utf-8") -> DataFormatError:
    """The error for a file that is not valid ``encoding`` text, naming the first bad line and
    byte (a streaming reader's own error counts from its buffer, not from the file)."""
    raw = Path(path).read_bytes()
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line_no = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return DataFormatError(f"{path}:{line_no}: not valid {encoding} text at byte {column} of the line "
                               f"({exc.reason}: {raw[exc.start:exc.end]!r}); save the file as {encoding}")
    return DataFormatError(f"{path}: not valid {encoding} text")


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """A text file's lines; a UTF-8 byte-order mark (spreadsheet exports) is read, not kept."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig" if encoding == "utf-8" else encoding)
    except UnicodeDecodeError:
        raise undecodable(path, encoding) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def allow_long_fields() -> None:
    """The csv module refuses fields over 128 KB by default; a long review or description is
    data, not an error (the readers name file and line for what is one)."""
    import csv
    import sys

    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
