"""Runs one benchmark cell (a model on a dataset split) and writes its run record."""

from __future__ import annotations

import datetime as _dt
import hashlib
import inspect
import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recbench.benchmark.data import DataLocator
from recbench.benchmark.evaluate import EvalSettings, evaluate
from recbench.benchmark.invariants import check_metrics
from recbench.benchmark.registry import baselines, datasets, split_spec
from recbench.benchmark.results import SCHEMA_VERSION, write_record
from recbench.benchmark.timing import Environment, peak_rss_mb, reset_peak_rss, stopwatch, thread_count


@dataclass
class CellResult:
    record: dict[str, Any]
    path: Path | None


def accepted_options(factory: Any) -> set[str] | None:
    """Keyword options a factory takes; None when it takes ``**kwargs`` (anything)."""
    sig = inspect.signature(factory)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {
        name for name, p in sig.parameters.items()
        if name not in ("self", "arg") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def options_for(factory: Any, options: dict[str, Any]) -> dict[str, Any]:
    accepted = accepted_options(factory)
    return dict(options) if accepted is None else {k: v for k, v in options.items() if k in accepted}


def build_model(spec: str, options: dict[str, Any] | None = None) -> Any:
    """Instantiates ``name`` or ``name:arg`` with the options its factory accepts."""
    factory = baselines.get(spec)
    _, arg = split_spec(spec)
    return factory(arg=arg, **options_for(factory, options or {}))


def build_dataset(spec: str, locator: DataLocator, options: dict[str, Any] | None = None) -> Any:
    """Instantiates a dataset adapter with the options (``-D KEY=VALUE``) its class accepts."""
    name, arg = split_spec(spec)
    cls = datasets.get(spec)
    return cls(name=name, arg=arg, locator=locator, **options_for(cls, options or {}))


def model_label(spec: str, options: dict[str, Any]) -> str:
    """``sif`` + options -> ``sif[pc=reference]``: one leaderboard row per distinct configuration."""
    return spec + (f"[{','.join(f'{k}={v}' for k, v in sorted(options.items()))}]" if options else "")


def config_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def protocol_settings(settings: EvalSettings) -> dict[str, Any]:
    """The settings that change a run's numbers (not progress bars or cache locations)."""
    return {k: v for k, v in asdict(settings).items() if k not in ("progress", "cache_dir", "use_cache")}


def cell_key(model_spec: str, dataset_spec: str, split: str | None, options: dict[str, Any] | None,
             dataset_options: dict[str, Any] | None, settings: EvalSettings) -> str:
    """What a cell *is*, computable before running it: a grid skips a cell whose key already
    has a record (``--rerun`` runs it anyway)."""
    factory = baselines.get(model_spec)
    dataset_cls = datasets.get(dataset_spec)
    return config_hash({
        "model": model_spec, "options": options_for(factory, options or {}),
        "dataset": dataset_spec, "dataset_options": options_for(dataset_cls, dataset_options or {}),
        "split": split or dataset_cls.default_split, "settings": protocol_settings(settings),
    })


def run_cell(
    model_spec: str,
    dataset_spec: str,
    split: str | None = None,
    options: dict[str, Any] | None = None,
    settings: EvalSettings | None = None,
    locator: DataLocator | None = None,
    results_dir: Path | None = Path("results"),
    dataset_options: dict[str, Any] | None = None,
) -> CellResult:
    """Loads the data, builds the model, evaluates, and writes the record atomically.

    Nothing is written unless the whole evaluation succeeded: an exception or Ctrl-C
    anywhere before the final rename leaves ``results_dir`` as it was.
    """
    settings = settings or EvalSettings()
    locator = locator or DataLocator()
    options = dict(options or {})
    started = _dt.datetime.now(_dt.timezone.utc)

    reset_peak_rss()
    dataset = build_dataset(dataset_spec, locator, dataset_options)
    used_dataset_options = options_for(type(dataset), dataset_options or {})
    with stopwatch() as load_data_sw:
        task = dataset.load(split)
    factory = baselines.get(model_spec)
    used_options = options_for(factory, options)
    with stopwatch() as load_model_sw:
        model = build_model(model_spec, options)
    with stopwatch() as total_sw:
        result = evaluate(model, task, settings)
    check_metrics(result.metrics, f"{model_spec} x {dataset.name} ({task.split})")

    primary = dataset.primary_metric or result.primary_metric
    model_params = dict(model.params)
    configuration = {
        "model": model_spec, "params": model_params, "dataset": dataset.name, "split": task.split,
        "dataset_options": used_dataset_options, "fingerprint": task.fingerprint, "settings": protocol_settings(settings),
    }
    chash = config_hash(configuration)
    run_id = started.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    env = Environment()
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "config_hash": chash,
        "cell_key": cell_key(model_spec, dataset_spec, split, options, dataset_options, settings),
        "date": started.isoformat(timespec="seconds"),
        "model": {
            "name": model.name,
            "spec": model_spec,
            "label": model_label(model_spec, {**used_options, **result.variant}),
            "options": used_options,
            "params": model_params,
            "version": getattr(model, "version", None),
            "n_parameters": getattr(model, "n_parameters", None),
        },
        "dataset": {
            "name": model_label(dataset.name, used_dataset_options),
            "kind": task.kind,
            "split": task.split,
            "sizes": task.sizes,
            "options": used_dataset_options,
            "fingerprint": task.fingerprint,
            "info": task.info,
        },
        "primary_metric": primary,
        "metrics": result.metrics,
        "details": result.details,
        "settings": protocol_settings(settings),
        "timing": {
            "data_load_seconds": load_data_sw.seconds,
            "model_load_seconds": load_model_sw.seconds,
            **result.timing,
            "total_seconds": total_sw.seconds + load_model_sw.seconds + load_data_sw.seconds,
            "peak_rss_mb": peak_rss_mb(),
            "threads": thread_count(),
        },
        "environment": {**asdict(env), "fingerprint": env.fingerprint()},
    }
    path = write_record(record, results_dir, result.per_query) if results_dir is not None else None
    return CellResult(record=record, path=path)
