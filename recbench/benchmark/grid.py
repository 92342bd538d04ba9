"""The grid engine: runs resolved cells one after another, each in a fresh process by default,
skips cells already recorded, counts failures and survives Ctrl-C. `recbench run` and
`recbench check` both go through it.

A failing cell is reported and the others go on. Ctrl-C ends the cell in progress at once
(records are written atomically, so none is left half written) and raises
:class:`GridInterrupted` with the counts so far.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from recbench.benchmark.cells import Cell
from recbench.benchmark.data import DataLocator, DataNotFoundError
from recbench.benchmark.evaluate import EvaluationError
from recbench.benchmark.results import USER_RUNS, check_writable, iter_records, results_folder

# what a cell may fail with and still let the grid go on: bad data, bad model output
EXPECTED_ERRORS = (DataNotFoundError, FileNotFoundError, ValueError, EvaluationError, RuntimeError)


@dataclass
class Outcome:
    cell: Cell
    status: str  # "ok" | "skipped" | "error"
    message: str = ""
    record: dict[str, Any] | None = None
    path: Path | None = None


@dataclass
class GridCounts:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


class GridInterrupted(KeyboardInterrupt):
    def __init__(self, counts: GridCounts, left: int) -> None:
        super().__init__("interrupted")
        self.counts, self.left = counts, left


def existing_cell_records(results_dir: Path | None) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The newest record of each recorded cell, by cell key (a skipped cell reports its figure)."""
    if results_dir is None or not Path(results_dir).is_dir():
        return {}
    newest: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path, rec in iter_records(Path(results_dir)):
        key = rec.get("cell_key")
        if key and (key not in newest or str(rec.get("date", "")) >= str(newest[key][1].get("date", ""))):
            newest[key] = (path, rec)
    return newest


def current_records(recorded: dict[str, tuple[Path, dict[str, Any]]],
                    cells: list[Cell]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The recorded cells whose record is of the model's current version: a model whose code
    changed its figures bumps its ``version``, and its cells run again (their keys are the same)."""
    from recbench.benchmark.registry import baselines

    out = {}
    for cell in cells:
        if cell.key in recorded:
            version = getattr(baselines.get(cell.model), "version", None)
            recorded_version = (recorded[cell.key][1].get("model") or {}).get("version")
            if str(recorded_version) == str(version) or version is None:
                out[cell.key] = recorded[cell.key]
    return out


def failure_message(exc: BaseException) -> str:
    """A failed cell's message: an expected error speaks for itself; anything else names its type."""
    return str(exc) if isinstance(exc, EXPECTED_ERRORS) else f"{type(exc).__name__}: {exc}"


def _run_here(cell: Cell, locator: DataLocator, results_dir: Path | None,
              catch: tuple[type[BaseException], ...]) -> dict[str, Any]:
    from recbench.benchmark.runner import run_resolved

    try:
        result = run_resolved(cell, locator, results_dir)
    except catch as exc:
        return {"status": "error", "message": failure_message(exc)}
    return {"status": "ok", "record": result.record, "path": result.path}


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


def _run_in_child(queue: Any, cell: Cell, locator: DataLocator, results_dir: Path | None, parent: int) -> None:
    die_with_parent(parent)
    try:
        queue.put(_run_here(cell, locator, results_dir, (Exception,)))
    except KeyboardInterrupt:
        queue.put({"status": "error", "message": "interrupted"})
    except BaseException as exc:  # report, never hang the parent
        queue.put({"status": "error", "message": f"{type(exc).__name__}: {exc}"})


def run_one(cell: Cell, locator: DataLocator, results_dir: Path | None, isolate: bool = True,
            catch: tuple[type[BaseException], ...] = EXPECTED_ERRORS) -> Outcome:
    """One cell, in a fresh process when ``isolate``: imports, caches and memory of earlier
    cells then cannot flatter or burden its timings (asv's rule). In-process, ``catch`` says
    which exceptions become a failed outcome (anything else propagates)."""
    if not isolate:
        return Outcome(cell, **_run_here(cell, locator, results_dir, catch))
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_run_in_child, args=(queue, cell, locator, results_dir, os.getpid()))
    child.start()
    try:
        while True:
            try:
                return Outcome(cell, **queue.get(timeout=1.0))
            except Exception:  # queue.Empty: still running?
                if not child.is_alive():
                    return Outcome(cell, "error", f"the cell's process died (exit code {child.exitcode})")
    except KeyboardInterrupt:
        child.terminate()
        raise
    finally:
        child.join(timeout=10)


EXECUTORS = ("local", "ray")


def run_grid(cells: Iterable[Cell], locator: DataLocator | None = None, results_dir: Path | None = USER_RUNS,
             isolate: bool = True, rerun: bool = False, on_start: Callable[[Cell], None] | None = None,
             on_outcome: Callable[[Outcome], None] | None = None,
             catch: tuple[type[BaseException], ...] = EXPECTED_ERRORS, executor: str = "local",
             address: str | None = None) -> GridCounts:
    """Runs every cell not yet recorded in ``results_dir`` (all of them with ``rerun``, or
    when ``results_dir`` is None: nothing is written then). A cell that occurs twice runs once.

    ``executor="ray"`` runs the cells as Ray tasks (:mod:`recbench.benchmark.ray_executor`),
    at ``address`` or on a local instance; skips, failures and Ctrl-C behave as locally."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    cells = list(cells)
    locator = locator or DataLocator()
    results_dir = results_folder(results_dir)
    if results_dir is not None and cells:
        check_writable(Path(results_dir))  # before any cell runs, not after the first one has
    recorded = {} if rerun else current_records(existing_cell_records(results_dir), cells)
    done_keys = set(recorded)
    counts = GridCounts()

    def settle(outcome: Outcome) -> None:
        if outcome.status == "ok":
            counts.done += 1
            if results_dir is not None:
                done_keys.add(outcome.cell.key)
        elif outcome.status == "skipped":
            counts.skipped += 1
        else:
            counts.failed += 1
        counts.outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    def skipped(cell: Cell) -> Outcome:
        path, record = recorded.get(cell.key, (None, None))
        return Outcome(cell, "skipped", "a record of this configuration exists (--rerun to run it again)", record, path)

    try:
        if executor == "ray":
            _run_grid_on_ray(cells, locator, results_dir, done_keys, settle, skipped, on_start, address)
            return counts
        for cell in cells:
            if on_start:
                on_start(cell)
            settle(skipped(cell) if cell.key in done_keys else run_one(cell, locator, results_dir, isolate, catch))
    except KeyboardInterrupt:
        raise GridInterrupted(counts, len(cells) - len(counts.outcomes)) from None
    return counts


def _run_grid_on_ray(cells: list[Cell], locator: DataLocator, results_dir: Path | None, done_keys: set[str],
                     settle: Callable[[Outcome], None], skipped: Callable[[Cell], Outcome],
                     on_start: Callable[[Cell], None] | None, address: str | None) -> None:
    from recbench.benchmark.ray_executor import run_cells
    from recbench.benchmark.runner import write_run

    submit, seen = [], set(done_keys)
    for cell in cells:
        if cell.key in seen:
            settle(skipped(cell))
        else:
            seen.add(cell.key)
            submit.append(cell)
    if not submit:
        return
    for cell, result in run_cells(submit, locator, lambda run: write_run(run, results_dir), on_start, address):
        if result["status"] == "ok":
            written = result["written"]
            settle(Outcome(cell, "ok", record=written.record, path=written.path))
        else:
            settle(Outcome(cell, "error", result["message"]))
