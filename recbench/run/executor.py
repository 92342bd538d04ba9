"""Executors: what runs a grid's cells. An executor yields each cell's finished run; it never
writes (the grid's driver does, ``grid.py``). Here: the interface, the outcome vocabulary and
the local executor; ``ray_executor.py`` holds the Ray one.
"""

from __future__ import annotations

import errno

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from recbench.run.cells import Cell
from recbench.protocol.model_contract import ModelContractError
from recbench.protocol.data import DataLocator, DataNotFoundError
from recbench.protocol.settings import EvaluationError

# what a cell may fail with and still let the grid go on: bad data, bad model output
# OSError: a full disk too; ModelContractError: a plugin that breaks the contract (params not JSON ...)
EXPECTED_ERRORS = (DataNotFoundError, OSError, ValueError, EvaluationError, RuntimeError, ModelContractError)


class Status(str, Enum):
    """How a cell of a grid ended (a str, so ``outcome.status == "ok"`` reads as it says)."""

    OK = "ok"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass
class Outcome:
    cell: Cell
    status: Status
    message: str = ""
    record: dict[str, Any] | None = None
    path: Path | None = None


@dataclass
class Finished:
    """What an executor yields for a cell it ran: the run, not yet written (the driver is the
    one writer), or why there is none."""

    cell: Cell
    run: Any = None  # runner.CellRun
    message: str = ""


class Executor(Protocol):
    """Runs cells and yields each as it finishes. It pulls cells from ``cells`` lazily (the local
    executor one at a time, so the driver decides about the next cell after the last one was
    written) and calls ``on_start`` as each begins. It never writes a record."""

    name: str

    def finished(self, cells: Iterator[Cell], locator: DataLocator,
                 on_start: Callable[[Cell], None] | None = None) -> Iterator[Finished]: ...


def failure_message(exc: BaseException) -> str:
    """A failed cell's message: an expected error speaks for itself; anything else names its type."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"the disk is full ({exc.strerror}{': ' + str(exc.filename) if exc.filename else ''}); nothing of this "
                "cell was left behind: free some space and run the grid again (recorded cells are skipped)")
    return str(exc) if isinstance(exc, EXPECTED_ERRORS) else f"{type(exc).__name__}: {exc}"


def _compute(cell: Cell, locator: DataLocator, catch: tuple[type[BaseException], ...]) -> Finished:
    from recbench.run.runner import compute_run

    try:
        return Finished(cell, compute_run(cell, locator))
    except catch as exc:
        return Finished(cell, None, failure_message(exc))


def die_with_parent(parent: int) -> None:
    """A cell's process ends when the process that started it does (SIGTERM, SIGKILL, a crash),
    so no record appears after the run is gone: Linux's parent-death signal, and a check that
    the parent did not die before it was set (elsewhere: the parent's Ctrl-C/SIGTERM handling)."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def _run_in_child(queue: Any, cell: Cell, locator: DataLocator, parent: int) -> None:
    die_with_parent(parent)
    try:
        queue.put(_compute(cell, locator, (Exception,)))
    except KeyboardInterrupt:
        queue.put(Finished(cell, None, "interrupted"))
    except BaseException as exc:  # report, never hang the parent
        queue.put(Finished(cell, None, f"{type(exc).__name__}: {exc}"))


class LocalExecutor:
    """One cell at a time on this machine, each in a fresh process when ``isolate``: imports,
    caches and memory of earlier cells then cannot flatter or burden its timings (asv's rule).
    In-process, ``catch`` says which exceptions become a failed cell (anything else propagates)."""

    name = "local"

    def __init__(self, isolate: bool = True, catch: tuple[type[BaseException], ...] = EXPECTED_ERRORS) -> None:
        self.isolate, self.catch = isolate, catch

    def finished(self, cells: Iterator[Cell], locator: DataLocator,
                 on_start: Callable[[Cell], None] | None = None) -> Iterator[Finished]:
        for cell in cells:
            if on_start:
                on_start(cell)
            yield self.run_one(cell, locator)

    def run_one(self, cell: Cell, locator: DataLocator) -> Finished:
        if not self.isolate:
            return _compute(cell, locator, self.catch)
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=_run_in_child, args=(queue, cell, locator, os.getpid()))
        child.start()
        try:
            while True:
                try:
                    return queue.get(timeout=1.0)
                except Exception:  # queue.Empty: still running?
                    if not child.is_alive():
                        return Finished(cell, None, f"the cell's process died (exit code {child.exitcode})")
        except KeyboardInterrupt:
            child.terminate()
            raise
        finally:
            child.join(timeout=10)


