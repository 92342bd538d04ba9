"""`recbench check`: CI's regression gate. Runs a check suite (``suites/smoke.toml``: cells with
expected values) on the real data and compares each gated metric with its expected value and
tolerance. Quality is gated; latency is reported beside it, never gated (shared machines are too
noisy)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from recbench.protocol.data import DataLocator
from recbench.results.run_record import RunRecord
from recbench.run.cells import Cell
from recbench.run.grid import run_grid
from recbench.run.suites import Suite, cell_name, check_gate, load_suite, write_expected

DEFAULT_SUITE = Path("suites") / "smoke.toml"


@dataclass
class CheckRow:
    cell: str
    metric: str
    expected: float
    got: float | None
    tolerance: float
    p50_ms: float | None
    index: int = 0  # the cell's place in the suite

    @property
    def ok(self) -> bool:
        return self.got is not None and abs(self.got - self.expected) <= self.tolerance


def load_check_suite(path: Path) -> Suite:
    """A suite that can gate: explicit cells, each with expected values (SuiteError otherwise)."""
    suite = load_suite(path)
    check_gate(suite)
    return suite


def run_suite(suite: Suite, locator: DataLocator | None = None,
              on_cell: Callable[[str], None] | None = None) -> tuple[list[CheckRow], list[tuple[str, str]]]:
    """Every cell once through the grid engine (in this process, no record written, a clean
    embedding cache, a trained cell trained for real on its budget); returns the metric rows and
    the cells that failed (a cell that cannot even be resolved fails the gate too)."""
    rows: list[CheckRow] = []
    errors: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as cache:
        resolved: list[tuple[int, Cell]] = []
        for index, spec in enumerate(suite.cells):
            try:
                resolved.append((index, Cell.from_spec(spec, retrain=True, progress=False, cache_dir=cache)))
            except Exception as exc:
                errors.append((cell_name(spec), f"{type(exc).__name__}: {exc}"))
        names = {id(c): cell_name(suite.cells[i]) for i, c in resolved}
        counts = run_grid([c for _, c in resolved], locator, results_dir=None, isolate=False, rerun=True,
                          catch=(Exception,), on_start=(lambda c: on_cell(names[id(c)])) if on_cell else None)
        for (index, _), outcome in zip(resolved, counts.outcomes):
            name = names[id(outcome.cell)]
            if outcome.status != "ok":
                errors.append((name, outcome.message))
                continue
            run = RunRecord.from_dict(outcome.record)
            p50 = run.latency.get("p50_ms")
            for metric, expected in suite.expected[index].items():
                got = run.metrics[metric].value if metric in run.metrics else None
                rows.append(CheckRow(name, metric, expected.value, got, expected.tolerance, p50, index))
    return rows, errors


def update_suite(suite: Suite, rows: list[CheckRow]) -> None:
    """Writes the measured values as the new expected ones (tolerances kept), atomically."""
    write_expected(suite, {(r.index, r.metric): r.got for r in rows if r.got is not None})
