"""`recbench check`: CI's regression gate. Runs a declared smoke suite of cells on the real
data and compares each gated metric with its committed expected value and tolerance. Quality
is gated; latency is reported beside it, never gated (shared machines are too noisy)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from recbench.benchmark.data import DataLocator
from recbench.benchmark.evaluate import EvalSettings
from recbench.benchmark.runner import run_cell

DEFAULT_SUITE = Path("checks") / "smoke.json"


@dataclass
class CheckRow:
    cell: str
    metric: str
    expected: float
    got: float | None
    tolerance: float
    p50_ms: float | None

    @property
    def ok(self) -> bool:
        return self.got is not None and abs(self.got - self.expected) <= self.tolerance


def load_suite(path: Path) -> dict[str, Any]:
    try:
        suite = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the check suite: {exc}") from None
    for i, cell in enumerate(suite.get("cells", [])):
        for key in ("model", "dataset", "metrics"):
            if key not in cell:
                raise ValueError(f"{path}: cell {i} has no {key!r}")
        for name, spec in cell["metrics"].items():
            if "tolerance" not in spec:
                raise ValueError(f"{path}: cell {i} metric {name!r} has no 'tolerance'")
    return suite


def run_suite(suite: dict[str, Any], locator: DataLocator | None = None,
              on_cell: Callable[[str], None] | None = None) -> tuple[list[CheckRow], list[tuple[str, str]]]:
    """Every cell once (no record written); returns the metric rows and the cells that failed."""
    rows: list[CheckRow] = []
    errors: list[tuple[str, str]] = []
    settings = EvalSettings(progress=False, n_bootstrap=int(suite.get("n_bootstrap", 100)),
                            latency_queries=int(suite.get("latency_queries", 20)))
    with tempfile.TemporaryDirectory() as cache:
        settings.cache_dir = cache  # a clean cache: the check encodes for real
        for cell in suite["cells"]:
            name = f"{cell['model']} x {cell['dataset']}" + (f" ({cell['split']})" if cell.get("split") else "")
            if on_cell:
                on_cell(name)
            try:
                rec = run_cell(cell["model"], cell["dataset"], split=cell.get("split"), options=cell.get("options"),
                               dataset_options=cell.get("dataset_options"), settings=settings,
                               locator=locator or DataLocator(), results_dir=None).record
            except Exception as exc:  # a cell that cannot run is a failure of the gate too
                errors.append((name, f"{type(exc).__name__}: {exc}"))
                continue
            p50 = (rec["timing"].get("latency") or {}).get("p50_ms")
            for metric, spec in cell["metrics"].items():
                got = (rec["metrics"].get(metric) or {}).get("value")
                rows.append(CheckRow(name, metric, float(spec.get("expected", float("nan"))), got,
                                     float(spec["tolerance"]), p50))
    return rows, errors


def update_suite(path: Path, suite: dict[str, Any], rows: list[CheckRow]) -> None:
    """Writes the measured values as the new expected ones (tolerances kept), atomically."""
    got = {(r.cell, r.metric): r.got for r in rows}
    for cell in suite["cells"]:
        name = f"{cell['model']} x {cell['dataset']}" + (f" ({cell['split']})" if cell.get("split") else "")
        for metric, spec in cell["metrics"].items():
            if got.get((name, metric)) is not None:
                spec["expected"] = round(float(got[(name, metric)]), 6)
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(suite, indent=2) + "\n")
    os.replace(tmp, path)
