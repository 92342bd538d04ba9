"""`recbench check`: CI's regression gate. Runs a declared smoke suite of cells on the real
data and compares each gated metric with its committed expected value and tolerance. Quality
is gated; latency is reported beside it, never gated (shared machines are too noisy)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from recbench.run.cells import Cell
from recbench.protocol.data import DataLocator
from recbench.protocol.settings import EvalSettings
from recbench.run.grid import run_grid
from recbench.run.training import Budget, TrainSettings

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


CELL_FIELDS = {"model": str, "dataset": str, "metrics": dict, "split": str, "options": dict, "dataset_options": dict,
               "train_budget": str, "train_seed": int, "description": str}
SUITE_FIELDS = {"cells": list, "n_bootstrap": int, "latency_queries": int, "description": str}


def check_fields(obj: dict[str, Any], schema: dict[str, type], where: str, field_prefix: str) -> None:
    """Every field of ``obj`` known to ``schema`` and of its type (a bool is not a number)."""
    for key, value in obj.items():
        if key not in schema:
            raise ValueError(f"{where} unknown field {key!r} (known: {', '.join(schema)})")
        if not isinstance(value, schema[key]) or isinstance(value, bool):
            raise ValueError(f"{field_prefix}{key} must be a {schema[key].__name__}")


def check_cell_name(cell: dict[str, Any]) -> str:
    """``model x dataset[options] (split)``, as the leaderboard labels the cell."""
    from recbench.run.cells import format_label

    name = f"{format_label(cell['model'], cell.get('options') or {})} x " \
           f"{format_label(cell['dataset'], cell.get('dataset_options') or {})}"
    return name + (f" ({cell['split']})" if cell.get("split") else "")


def load_suite(path: Path) -> dict[str, Any]:
    """The suite, validated field by field: a gate that checks nothing (no cell, a cell with
    no gated metric) or a tolerance that passes anything (non-finite, negative) is refused,
    each message naming the field."""
    try:
        suite = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the check suite: {exc}") from None
    if not isinstance(suite, dict):
        raise ValueError(f"{path}: a check suite is a JSON object with a 'cells' list")
    check_fields(suite, SUITE_FIELDS, f"{path}:", f"{path}: ")
    cells = suite.get("cells")
    if not cells:
        raise ValueError(f"{path}: 'cells' is missing or empty: a gate with no cell checks nothing")
    for i, cell in enumerate(cells):
        where = f"{path}: cells[{i}]"
        if not isinstance(cell, dict):
            raise ValueError(f"{where} must be an object")
        for key in ("model", "dataset", "metrics"):
            if key not in cell:
                raise ValueError(f"{where} has no {key!r}")
        check_fields(cell, CELL_FIELDS, f"{where}:", f"{where}.")
        if not cell["metrics"]:
            raise ValueError(f"{where}.metrics is empty: the cell would be run and nothing checked")
        for name, spec in cell["metrics"].items():
            at = f"{where}.metrics.{name}"
            if not isinstance(spec, dict):
                raise ValueError(f"{at} must be an object with 'expected' and 'tolerance'")
            for key in ("expected", "tolerance"):
                value = spec.get(key)
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"{at}.{key} must be a finite number, not {value!r}")
            if spec["tolerance"] < 0:
                raise ValueError(f"{at}.tolerance must not be negative, not {spec['tolerance']!r}")
    return suite


def suite_cells(suite: dict[str, Any], settings: EvalSettings) -> list[tuple[str, Cell | Exception]]:
    """Each declared cell, resolved (or the error that stops it), under its suite name."""
    out: list[tuple[str, Cell | Exception]] = []
    for cell in suite["cells"]:
        name = check_cell_name(cell)
        try:
            # a trained cell trains for real every time (never a cached checkpoint), on its budget
            training = (TrainSettings(budget=Budget.parse(cell["train_budget"]), seed=int(cell.get("train_seed", 0)),
                                      retrain=True) if cell.get("train_budget") else None)
            out.append((name, Cell.resolve(cell["model"], cell["dataset"], cell.get("split"), cell.get("options"),
                                           cell.get("dataset_options"), settings, training)))
        except Exception as exc:  # a cell that cannot even be resolved fails the gate too
            out.append((name, exc))
    return out


def run_suite(suite: dict[str, Any], locator: DataLocator | None = None,
              on_cell: Callable[[str], None] | None = None) -> tuple[list[CheckRow], list[tuple[str, str]]]:
    """Every cell once through the grid engine (in this process, no record written); returns
    the metric rows and the cells that failed."""
    rows: list[CheckRow] = []
    errors: list[tuple[str, str]] = []
    settings = EvalSettings(progress=False, n_bootstrap=int(suite.get("n_bootstrap", 100)),
                            latency_queries=int(suite.get("latency_queries", 20)))
    with tempfile.TemporaryDirectory() as cache:
        settings.cache_dir = cache  # a clean cache: the check encodes for real
        resolved = suite_cells(suite, settings)
        names = {id(c): n for n, c in resolved}
        errors += [(n, f"{type(c).__name__}: {c}") for n, c in resolved if isinstance(c, Exception)]
        cells = [c for _, c in resolved if isinstance(c, Cell)]
        counts = run_grid(cells, locator, results_dir=None, isolate=False, rerun=True, catch=(Exception,),
                          on_start=(lambda c: on_cell(names[id(c)])) if on_cell else None)
        specs = [spec for spec, (_, c) in zip(suite["cells"], resolved) if isinstance(c, Cell)]
        for spec, outcome in zip(specs, counts.outcomes):
            name = names[id(outcome.cell)]
            if outcome.status != "ok":
                errors.append((name, outcome.message))
                continue
            rec = outcome.record
            p50 = (rec["timing"].get("latency") or {}).get("p50_ms")
            for metric, m in spec["metrics"].items():
                got = (rec["metrics"].get(metric) or {}).get("value")
                rows.append(CheckRow(name, metric, float(m.get("expected", float("nan"))), got,
                                     float(m["tolerance"]), p50))
    return rows, errors


def update_suite(path: Path, suite: dict[str, Any], rows: list[CheckRow]) -> None:
    """Writes the measured values as the new expected ones (tolerances kept), atomically."""
    got = {(r.cell, r.metric): r.got for r in rows}
    for cell in suite["cells"]:
        name = check_cell_name(cell)
        for metric, spec in cell["metrics"].items():
            if got.get((name, metric)) is not None:
                spec["expected"] = round(float(got[(name, metric)]), 6)
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(suite, indent=2) + "\n")
    os.replace(tmp, path)
