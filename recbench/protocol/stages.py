"""Where a query's milliseconds go: code on the serving path marks its stages
(``with stage("search"):``), and the single-stream scenario keeps each stage's time per query,
so a record gives every stage its own p50/p99 beside the end-to-end figure. ann-benchmarks
times only the search and MTEB only the encode; a deployer needs the split.

Outside a timed scenario a stage costs one clock read and records nothing."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

_current: dict[str, float] | None = None  # the stages of the query being timed, in seconds


_open: list[str] = []  # the stages the running code is inside, outermost first


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Times the enclosed code as stage ``name`` of the query being timed; a stage inside another
    is recorded as ``outer.inner`` (a pipeline's ``first.search``), so the top-level stages add up
    to the query's time and the inner ones split theirs. Stages add up when a name repeats."""
    full = ".".join([*_open, name])
    _open.append(name)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        _open.pop()
        if _current is not None:
            _current[full] = _current.get(full, 0.0) + time.perf_counter() - t0


@contextmanager
def collect() -> Iterator[dict[str, float]]:
    """The stages of one query: a fresh dict filled while the block runs."""
    global _current
    previous, _current = _current, {}
    try:
        yield _current
    finally:
        _current = previous
