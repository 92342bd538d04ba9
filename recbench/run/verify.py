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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recbench.protocol.settings import EvalSettings
from recbench.results.records import RecordError, read_record
from recbench.results.cell_spec import CellSpec, CellSpecError

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


def recorded_seconds(record: dict[str, Any]) -> float:
    """How long the record says its cell took (infinite when it does not say)."""
    value = (record.get("timing") or {}).get("total_seconds")
    return float(value) if isinstance(value, (int, float)) else float("inf")


def is_trained(record: dict[str, Any]) -> bool:
    """Trained, or reranked by a trained checkpoint (its figure depends on that training too)."""
    from recbench.results.rows import reranks_from_checkpoint

    return bool(record.get("training")) or reranks_from_checkpoint(record)


def reranker_checkpoint_problem(record: dict[str, Any]) -> str | None:
    """Why the record's reranker checkpoint cannot be used here (absent), with the command that
    rebuilds it from the cell that trained it; None when it is here or none is used."""
    from recbench.protocol.registry import split_spec
    from recbench.protocol.rerank import from_checkpoint
    from recbench.protocol.checkpoints import resolve_checkpoint

    spec = str((record.get("settings") or {}).get("rerank") or "")
    if not from_checkpoint(spec):
        return None
    _, arg = split_spec(spec)
    if resolve_checkpoint(arg).is_dir():
        return None
    by = ((record.get("details") or {}).get("pipeline") or {}).get("trained_by")
    if not by:
        return (f"its reranker's checkpoint {arg} is not on this machine, and the record does not say which cell "
                "trained it (written before records kept it): it cannot be rebuilt from what the record holds")
    options = " ".join(f"-o {k}={v}" for k, v in (by.get("model_options") or {}).items())
    return (f"its reranker's checkpoint {arg} is not on this machine; the cell that trained it rebuilds it: "
            f"recbench run -m {by['model']} {options} -d {by['dataset']} --train-budget {by['budget']} "
            f"--train-seed {by['seed']}").replace("  ", " ")


def select_records(paths: list[Path], untrained: bool = False, sample: int | None = None,
                   seed: int = 0, max_seconds: float | None = None) -> list[Path]:
    """The records to verify: files as given, a folder's records (``untrained``: only those not
    trained; ``max_seconds``: only those whose cell took at most that long when recorded), and of
    them a seeded random sample of ``sample`` (CI verifies a different handful of the committed
    board each time it changes the seed, any of them reproducible)."""
    import random

    from recbench.results.records import iter_records

    out: list[Path] = []
    for path in paths:
        if Path(path).is_dir():
            out += [p for p, rec in iter_records(Path(path)) if not (untrained and is_trained(rec))
                    and (max_seconds is None or recorded_seconds(rec) <= max_seconds)]
        else:
            out.append(Path(path))
    if sample is not None:
        if sample < 1:
            raise ValueError(f"--sample {sample}: give a positive number of records")
        out = sorted(random.Random(seed).sample(sorted(out), min(sample, len(out))))
    return out


def settings_from_record(record: dict[str, Any]) -> EvalSettings:
    """The protocol settings the record ran with (settings added later: their defaults)."""
    return CellSpec.from_record(record).eval_settings(progress=False)


def cell_from_record(record: dict[str, Any], reuse_checkpoint: bool = False) -> Any:
    """The record's cell, rebuilt from its cell section (``CellSpec.from_record``) and resolved."""
    from recbench.run.cells import Cell

    try:
        spec = CellSpec.from_record(record)
    except CellSpecError as exc:
        raise RecordError(str(exc)) from None
    return Cell.from_spec(spec, retrain=not reuse_checkpoint, progress=False)


def version_differences(record: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    from recbench.protocol.timing import Environment

    then = record.get("environment") or {}
    now = Environment()
    pairs = [("python", then.get("python"), now.python)]
    recorded = then.get("packages") or {}
    # a package the record does not state (records before it was recorded) cannot be said to differ
    pairs += [(p, recorded.get(p), now.packages.get(p)) for p in VERSIONED if p != "python" and p in recorded]
    pairs.append(("git sha", then.get("git_sha"), now.git_sha))
    return [(name, a, b) for name, a, b in pairs if a != b]


def _plain(value: Any) -> Any:
    """A value as JSON gives it back (tuples as lists), so a re-run compares with a record."""
    import json

    return json.loads(json.dumps(value, default=str))


def cell_disagreements(record: dict[str, Any], cell: Any) -> list[str]:
    """Where the record's model, dataset and training sections say something other than its
    cell section (from which the cell is rebuilt): a record relabelled by hand says so here. Read
    as the JSON says, not through ``RunRecord``: a forged record's shape is what is being judged."""
    section = record.get("cell") or {}
    model, dataset = record.get("model") or {}, record.get("dataset") or {}
    pairs = [("model.spec", model.get("spec"), cell.model), ("model.options", model.get("options") or {}, cell.model_options),
             ("dataset.spec", dataset.get("spec"), cell.dataset), ("dataset.split", dataset.get("split"), cell.split),
             ("dataset.options", dataset.get("options") or {}, cell.dataset_options),
             ("dataset.kind", dataset.get("kind"), cell.kind),
             ("training", bool(record.get("training")), cell.training is not None),
             ("cell.training", bool(section.get("training")), cell.training is not None)]
    return [f"{name}: the record says {_plain(a)!r}, its cell gives {_plain(b)!r}"
            for name, a, b in pairs if _plain(a) != _plain(b)]


def rerun_disagreements(record: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Identity the re-run derives (the model's own name, the row label, the dataset) against the record's."""
    pairs = [("model.name", (record.get("model") or {}).get("name"), now["model"]["name"]),
             ("model.label", (record.get("model") or {}).get("label"), now["model"]["label"]),
             ("dataset.name", (record.get("dataset") or {}).get("name"), now["dataset"]["name"])]
    return [f"{name}: the record says {a!r}, the re-run gives {b!r}" for name, a, b in pairs if a != b]


def sidecar_checks(path: Path, record: dict[str, Any]) -> list[MetricCheck]:
    """Every recorded metric recomputed from the record's own per-query sidecar: a sidecar
    swapped for other predictions (which `compare` would read) fails here."""
    from recbench.protocol.metrics import CORRELATIONS
    from recbench.results.records import read_per_query
    from recbench.results.significance import CATALOG_METRICS, query_values

    if not record.get("sidecar"):
        return []
    per_query = read_per_query(path, record)  # refuses a sidecar outside the folder or off its checksum
    checks = []
    for metric, est in record["metrics"].items():
        if CATALOG_METRICS.fullmatch(metric.split("[", 1)[0]):
            continue  # coverage, Gini: a figure of all lists at once, re-computed by the re-run instead
        if "prediction" in per_query:
            base = metric.split("[", 1)[0]
            if base not in CORRELATIONS or "gold" not in per_query:
                continue
            value = 100.0 * float(CORRELATIONS[base](per_query["prediction"], per_query["gold"]))
        else:
            values = query_values(per_query, metric, path)[1]
            values = values[np.isfinite(values)]  # as the metric is defined: over the queries where it is
            value = float(values.mean()) if values.size else float("nan")
        checks.append(MetricCheck(f"{metric} (sidecar)", est.get("value"), value, UNTRAINED_TOLERANCE,
                                  "recomputed from its sidecar"))
    return checks


def rerun_tolerances(cell: Any, now: dict[str, Any], seed_values: dict[str, list[float]] | None = None
                     ) -> dict[str, tuple[float, str]]:
    """Per metric: (tolerance, its basis), from the re-run alone, never from what the record says
    of itself: untrained (as the cell, not the record, says) 1e-6; trained, 3 sd of the seeds
    re-trained now where there are two or more, else the re-run's own 95% interval half-width."""
    out = {}
    for metric, est in now["metrics"].items():
        if cell.training is None:
            out[metric] = (UNTRAINED_TOLERANCE, "untrained: exact")
        elif seed_values and len(seed_values.get(metric, [])) >= 2:
            values = seed_values[metric]
            out[metric] = (SEED_SDS * float(np.std(values, ddof=1)), f"{SEED_SDS:g} sd of {len(values)} seeds re-trained now")
        else:
            out[metric] = ((est["ci_high"] - est["ci_low"]) / 2, "the re-run's 95% CI half-width")
    return out


def without_timing(cell: Any) -> Any:
    """The cell with no latency, offline or server scenario (quality does not depend on them:
    ``--quality-only`` re-runs a board in a fraction of the time)."""
    from dataclasses import replace

    return replace(cell, settings=replace(cell.settings, latency_queries=0, offline_texts=0, server_p99_ms=None))


def verify_record(path: Path, locator: Any = None, reuse_checkpoint: bool = False,
                  all_seeds: bool = False, quality_only: bool = False) -> Verification:
    """Re-runs the record's cell (writing nothing) and checks every recorded metric against the
    re-run, and against its own sidecar. The cell comes from the record's cell section; a record
    whose other sections disagree with it fails. ``all_seeds``: a trained row's other seeds
    (records beside it) are re-trained too, and the tolerance is their spread now."""
    from recbench.run.runner import compute_run

    path = Path(path)
    record = read_record(path)
    cell = cell_from_record(record, reuse_checkpoint)
    missing = reranker_checkpoint_problem(record)
    if missing:
        raise RecordError(f"{path}: {missing}")
    disagreements = cell_disagreements(record, cell)
    if disagreements:
        raise RecordError(f"{path}: the record disagrees with its own cell section: " + "; ".join(disagreements))
    stored = sidecar_checks(path, record)
    versions = version_differences(record)
    run = compute_run(without_timing(cell) if quality_only else cell, locator)
    now = run.record
    disagreements = rerun_disagreements(record, now)
    if disagreements:
        raise RecordError(f"{path}: the re-run is not the row the record claims: " + "; ".join(disagreements))
    seed_values = None
    if all_seeds and cell.training is not None:
        from recbench.results.seeds import seed_siblings

        seed_values = {m: [est["value"]] for m, est in now["metrics"].items()}
        for sibling in seed_siblings(path):
            if Path(sibling).resolve() == path.resolve():
                continue
            sibling_record = read_record(sibling)
            sibling_cell = cell_from_record(sibling_record, reuse_checkpoint)
            if cell_disagreements(sibling_record, sibling_cell):
                continue  # a sibling that is not what it says adds nothing to the spread
            again = compute_run(sibling_cell, locator).record
            for m, est in again["metrics"].items():
                seed_values.setdefault(m, []).append(est["value"])
    checks = []
    for metric, (tolerance, basis) in rerun_tolerances(cell, now, seed_values).items():
        if metric not in record["metrics"]:  # a figure the record predates (beyond accuracy): it claims nothing
            continue
        before = (record["metrics"].get(metric) or {}).get("value")
        after = (now["metrics"].get(metric) or {}).get("value")
        checks.append(MetricCheck(metric, before, after, tolerance, basis))
    for metric in set(record["metrics"]) - set(now["metrics"]):  # a recorded figure the re-run does not produce
        checks.append(MetricCheck(metric, record["metrics"][metric].get("value"), None, 0.0, "not produced by the re-run"))
    checks += stored
    p50_then = ((record.get("timing") or {}).get("latency") or {}).get("p50_ms")
    p50_now = ((now.get("timing") or {}).get("latency") or {}).get("p50_ms")
    ratio = p50_now / p50_then if p50_then and p50_now else None
    return Verification(path, now["model"]["label"], versions, checks, ratio, cell.training is not None,
                        cell.key, str(record.get("cell_key", "")))
