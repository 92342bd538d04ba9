"""The ``recbench`` Typer app and what its commands share: option parsing and a clean exit with
a message. Each subcommand is a module of this package that registers itself on ``app``."""

from __future__ import annotations

from typing import Any

from enum import Enum

import typer

from recbench.protocol.indexes import INDEXES
from recbench.run.grid import EXECUTORS

# choices typer shows and checks (values are plain strings: ``.value``)
ExecutorName = Enum("ExecutorName", {name: name for name in EXECUTORS}, type=str)
IndexName = Enum("IndexName", {name: name for name in INDEXES}, type=str)
ReportFormat = Enum("ReportFormat", {name: name for name in ("md", "csv", "json")}, type=str)

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Benchmark text recommenders and sentence embeddings: quality with intervals, latency measured seriously.")


def parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_options(opts: list[str]) -> dict[str, Any]:
    out = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--opt takes KEY=VALUE, got {opt!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def split_specs(values: list[str]) -> list[str]:
    """Model or dataset specs from one or more repeated flags, each split at its commas, except
    that a spec's ``#...`` part (a pairs file's columns: ``pairs:my.csv#s1,s2,score``) keeps its
    commas and runs to the end of that flag's value: give such a spec last, or in a flag of its own."""
    out: list[str] = []
    for value in values:
        head, sep, tail = value.partition("#")
        parts = split_list(head) if not head.rstrip().endswith(",") else split_list(head) + [""]
        if sep:
            if not parts or not parts[-1]:
                raise typer.BadParameter(f"{value!r}: a '#...' part must follow a spec, e.g. pairs:my.csv#s1,s2,score")
            parts[-1] = f"{parts[-1]}#{tail.strip()}"
        out.extend(p for p in parts if p)
    return out
