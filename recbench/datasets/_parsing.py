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


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    try:
        text = Path(path).read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        line_no = Path(path).read_bytes()[: exc.start].count(b"\n") + 1
        raise DataFormatError(f"{path}:{line_no}: not valid {encoding} text ({exc.reason})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]
