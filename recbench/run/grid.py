"""The grid's driver: skips cells already recorded, hands the rest to an executor (``local``:
one after another, each in a fresh process; ``ray``), writes each finished run (the one writer,
whatever the executor), counts failures and survives Ctrl-C. `recbench run` and `recbench check`
both go through it.

A failing cell is reported and the others go on. Ctrl-C ends the cell in progress at once
(records are written atomically, so none is left half written) and raises
:class:`GridInterrupted` with the counts so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from recbench.run.cells import Cell
from recbench.protocol.data import DataLocator
from recbench.protocol.model_contract import hook
from recbench.run.executor import (EXPECTED_ERRORS, Executor, Finished, LocalExecutor, Outcome, Status, failure_message)
from recbench.results.records import USER_RUNS, check_writable, iter_records, results_folder


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
    from recbench.protocol.registry import baselines

    out = {}
    for cell in cells:
        if cell.key in recorded:
            version = hook(baselines.get(cell.model), "version")
            recorded_version = (recorded[cell.key][1].get("model") or {}).get("version")
            if str(recorded_version) == str(version) or version is None:
                out[cell.key] = recorded[cell.key]
    return out


def make_executor(name: str, isolate: bool = True, catch: tuple[type[BaseException], ...] = EXPECTED_ERRORS,
                  address: str | None = None) -> Executor:
    """The executor of this name: ``local`` or ``ray`` (``ray_executor.py``)."""
    if name == "local":
        return LocalExecutor(isolate, catch)
    if name == "ray":
        from recbench.run.ray_executor import RayExecutor

        return RayExecutor(address)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


EXECUTORS = ("local", "ray")


def run_grid(cells: Iterable[Cell], locator: DataLocator | None = None, results_dir: Path | None = USER_RUNS,
             isolate: bool = True, rerun: bool = False, on_start: Callable[[Cell], None] | None = None,
             on_outcome: Callable[[Outcome], None] | None = None,
             catch: tuple[type[BaseException], ...] = EXPECTED_ERRORS, executor: str | Executor = "local",
             address: str | None = None) -> GridCounts:
    """Runs every cell not yet recorded in ``results_dir`` (all of them with ``rerun``, or
    when ``results_dir`` is None: nothing is written then). A cell listed twice runs once.

    Whatever the executor (``local``, ``ray`` or an ``Executor`` object), this driver is the one
    writer: each finished run is written here, atomically. Skips, failures and Ctrl-C behave
    the same on every executor."""
    runner = make_executor(executor, isolate, catch, address) if isinstance(executor, str) else executor
    cells = list(cells)
    locator = locator or DataLocator()
    results_dir = results_folder(results_dir)
    if results_dir is not None and cells:
        check_writable(Path(results_dir))  # before any cell runs, not after the first one has
    recorded = {} if rerun else current_records(existing_cell_records(results_dir), cells)
    counts = GridCounts()

    def settle(outcome: Outcome) -> None:
        if outcome.status == Status.OK:
            counts.done += 1
        elif outcome.status == Status.SKIPPED:
            counts.skipped += 1
        elif outcome.status == Status.ERROR:
            counts.failed += 1
        counts.outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    def to_run() -> Iterator[Cell]:
        """The cells to run, pulled by the executor; skips settled as they are passed."""
        seen: set[str] = set()
        for cell in cells:
            if cell.key in recorded:
                path, record = recorded[cell.key]
                settle(Outcome(cell, Status.SKIPPED, "a record of this configuration exists (--rerun to run it "
                               "again)", record, path))
            elif cell.key in seen:
                settle(Outcome(cell, Status.SKIPPED, "listed twice in this grid; run once"))
            else:
                seen.add(cell.key)
                yield cell

    from recbench.run.runner import write_run

    try:
        for done in runner.finished(to_run(), locator, on_start):
            if done.run is None:
                settle(Outcome(done.cell, Status.ERROR, done.message))
                continue
            try:
                written = write_run(done.run, results_dir)
            except OSError as exc:  # a full disk: this cell fails with the reason, the grid goes on to its summary
                settle(Outcome(done.cell, Status.ERROR, "could not write its record: " + failure_message(exc)))
                continue
            settle(Outcome(done.cell, Status.OK, record=written.record, path=written.path))
    except KeyboardInterrupt:
        raise GridInterrupted(counts, len(cells) - len(counts.outcomes)) from None
    return counts
