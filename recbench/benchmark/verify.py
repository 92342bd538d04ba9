"""``recbench verify``: run a recorded cell again from what its record holds and say, metric by
metric, whether the figure is the same.

The cell is rebuilt from the record's ``cell`` section (model spec and options, dataset spec
and options, split, protocol settings, training budget, seed and validations); nothing comes
from today's defaults. A trained cell trains again (the checkpoint cache is bypassed, or the
check would only reload the weights it is meant to check), unless asked to reuse it.

Tolerances: an untrained figure must repeat to 1e-6; a trained one within 3 seed-to-seed
standard deviations of its row (the seeds recorded beside it; a difference of two runs from
different seeds has sd sqrt(2) * sd, so 3 sd passes about 97% of them), or, where the row has one
seed only, within the half-width of the metric's 95% interval (no seed spread is known then).
Latency is reported as a ratio, never judged: it belongs to the machine.
"""

from __future__ import annotations

from dataclasses import dataclass, fields as dataclass_fields
from pathlib import Path
from typing import Any

import numpy as np

from recbench.benchmark.evaluate import EvalSettings
from recbench.benchmark.records import RecordError, read_record
from recbench.benchmark.training import Budget, TrainSettings

UNTRAINED_TOLERANCE = 1e-6
SEED_SDS = 3.0
VERSIONED = ("python", "torch", "transformers", "sentence-transformers", "numpy", "recbench", "tokenizers",
             "huggingface-hub", "peft", "onnxruntime", "scikit-learn")


@dataclass
class MetricCheck:
    metric: str
    recorded: float | None
    now: float | None
    tolerance: float
    basis: str

    @property
    def difference(self) -> float | None:
        if self.recorded is None or self.now is None:
            return None
        return self.now - self.recorded

    @property
    def ok(self) -> bool:
        d = self.difference
        return d is not None and bool(np.isfinite(d)) and abs(d) <= self.tolerance


@dataclass
class Verification:
    path: Path
    label: str
    versions: list[tuple[str, str | None, str | None]]  # (package, recorded, now) where they differ
    checks: list[MetricCheck]
    latency_ratio: float | None  # p50 now / recorded
    trained: bool
    key_now: str = ""
    key_recorded: str = ""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def settings_from_record(record: dict[str, Any]) -> EvalSettings:
    """The protocol settings the record ran with (settings added later: their defaults)."""
    saved = dict(record.get("settings") or {})
    known = {f.name for f in dataclass_fields(EvalSettings)}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k in known}
    return EvalSettings(**{**values, "progress": False})


def training_from_record(record: dict[str, Any], reuse_checkpoint: bool) -> TrainSettings | None:
    section = (record.get("cell") or {}).get("training")
    if not section:
        return None
    return TrainSettings(budget=Budget.parse(section["budget"]), seed=int(section.get("seed", 0)),
                         validations=int(section.get("validations", 4)), retrain=not reuse_checkpoint)


def cell_from_record(record: dict[str, Any], reuse_checkpoint: bool = False) -> Any:
    from recbench.benchmark.cells import Cell

    cell = record.get("cell")
    if not cell:
        raise RecordError("the record has no cell section (written before records kept one); it cannot be re-run "
                          "from what it holds")
    return Cell.resolve(cell["model"], cell["dataset"], cell["split"], cell.get("model_options") or {},
                        cell.get("dataset_options") or {}, settings_from_record(record),
                        training_from_record(record, reuse_checkpoint))


def version_differences(record: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    from recbench.benchmark.timing import Environment

    then = record.get("environment") or {}
    now = Environment()
    pairs = [("python", then.get("python"), now.python)]
    recorded = then.get("packages") or {}
    # a package the record does not state (records before it was recorded) cannot be said to differ
    pairs += [(p, recorded.get(p), now.packages.get(p)) for p in VERSIONED if p != "python" and p in recorded]
    pairs.append(("git sha", then.get("git_sha"), now.git_sha))
    return [(name, a, b) for name, a, b in pairs if a != b]


def tolerances(path: Path, record: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """Per metric: (tolerance, what it is based on)."""
    from recbench.benchmark.seeds import seed_siblings

    metrics = record["metrics"]
    if not record.get("training"):
        return {m: (UNTRAINED_TOLERANCE, "untrained: exact") for m in metrics}
    siblings = [read_record(p) for p in seed_siblings(path)]
    out = {}
    for m, est in metrics.items():
        values = [(r["metrics"].get(m) or {}).get("value") for r in siblings]
        values = [v for v in values if v is not None]
        if len(values) >= 2:
            out[m] = (SEED_SDS * float(np.std(values, ddof=1)), f"{SEED_SDS:g} sd of {len(values)} seeds")
        elif est.get("ci_low") is not None and est.get("ci_high") is not None:
            out[m] = ((est["ci_high"] - est["ci_low"]) / 2, "one seed: 95% CI half-width")
        else:
            out[m] = (UNTRAINED_TOLERANCE, "one seed, no interval: exact")
    return out


def verify_record(path: Path, locator: Any = None, reuse_checkpoint: bool = False) -> Verification:
    """Re-runs the record's cell (writing nothing) and checks every recorded metric."""
    from recbench.benchmark.runner import compute_run

    path = Path(path)
    record = read_record(path)
    cell = cell_from_record(record, reuse_checkpoint)
    versions = version_differences(record)
    run = compute_run(cell, locator)
    now = run.record
    checks = []
    for metric, (tolerance, basis) in tolerances(path, record).items():
        before = (record["metrics"].get(metric) or {}).get("value")
        after = (now["metrics"].get(metric) or {}).get("value")
        checks.append(MetricCheck(metric, before, after, tolerance, basis))
    p50_then = ((record.get("timing") or {}).get("latency") or {}).get("p50_ms")
    p50_now = ((now.get("timing") or {}).get("latency") or {}).get("p50_ms")
    ratio = p50_now / p50_then if p50_then and p50_now else None
    return Verification(path, record["model"]["label"], versions, checks, ratio, bool(record.get("training")),
                        cell.key, str(record.get("cell_key", "")))
