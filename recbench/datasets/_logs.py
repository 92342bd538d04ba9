"""Interaction logs, the raw material of Mix-style impressions (``mix.py``) and
``recbench datasets build-impressions``: engagements in order plus an item table.

A log *source* is registrable like a model or a dataset: a built-in dataset module registers the
log it reads (``ml100k`` in ``movielens.py``, ``amazon-scientific`` in ``amazon.py``,
``interactions:<dir>`` in ``interactions.py``), and a plugin adds one through the entry-point
group ``recbench.log_sources`` (its value names a ``LogSource``). Nothing here names a source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from recbench.protocol.data import DataLocator, DataSource
from recbench.protocol.registry import Registry, split_spec


@dataclass
class InteractionLog:
    """Engagements in order: user, item id, timestamp (None when the source has none), and the
    item table as MIND's news columns."""

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray | None
    news: pd.DataFrame  # columns id, category, subcategory, title, abstract
    source_files: list[Path]


@dataclass(frozen=True)
class LogSource:
    """Where a log's files are (``data``, looked up like a dataset's; None: the argument is a
    folder, ``interactions:<dir>``) and how to read them (``read(folder) -> InteractionLog``)."""

    name: str
    read: Callable[[Path], InteractionLog]
    data: DataSource | None = None
    needs_folder_argument: bool = False


def _check_source(obj: object, name: str) -> None:
    if not isinstance(obj, LogSource):
        raise TypeError(f"log source {name!r} is a {type(obj).__name__}, not a LogSource")


# built-ins register from the dataset modules, which the datasets registry imports on first use
log_sources: Registry[LogSource] = Registry("interaction-log source", "recbench.log_sources", None,
                                            check=_check_source)


def register_log_source(source: LogSource) -> LogSource:
    log_sources.add(source.name, source)
    return source


def _ensure_builtins() -> None:
    from recbench.protocol.registry import datasets

    datasets.names()  # imports every built-in dataset module: each registers the logs it reads


def get_log_source(spec: str) -> tuple[LogSource, str | None]:
    """The source of ``name`` or ``name:arg`` (a folder)."""
    _ensure_builtins()
    source = log_sources.get(spec)
    name, arg = split_spec(spec)
    if source.needs_folder_argument and not arg:
        raise ValueError(f"interaction-log source {name!r} needs a folder: {name}:path/to/dir")
    return source, arg


def load_source(spec: str, locator: DataLocator) -> InteractionLog:
    """A registered log: ``ml100k``, ``amazon-scientific``, ``interactions:<dir>``, or a plugin's."""
    source, arg = get_log_source(spec)
    folder = Path(arg) if source.needs_folder_argument else locator.locate(source.data, source.name)
    return source.read(folder)
