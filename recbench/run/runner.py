"""Runs one benchmark cell (a model on a dataset split) and writes its run record."""

from __future__ import annotations

import json

import datetime as _dt
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from recbench.run.cells import Cell, config_hash, options_for, protocol_settings
from recbench.protocol.data import DataLocator
from recbench.protocol.settings import EvalSettings
from recbench.protocol.kinds.base import evaluate, export_format, get_kind, split_for_training
from recbench.protocol.invariants import check_metrics
from recbench.protocol.model_contract import check_model, hook
from recbench.protocol.registry import datasets, split_spec
from recbench.results.run_record import CellInfo, DatasetInfo, EnvironmentInfo, Estimate, ModelInfo, RunRecord
from recbench.results.records import SCHEMA_VERSION, USER_RUNS, results_folder, short_spec, write_record
from recbench.protocol.scenarios import inherit_cell_load, load_watch
from recbench.protocol.devices import describe_device
from recbench.protocol.timing import Environment, peak_rss_mb, pin_threads, reset_peak_rss, stopwatch, thread_count
from recbench.run.training import Trainable, TrainSettings, fit_or_load


@dataclass
class CellResult:
    record: dict[str, Any]
    path: Path | None


def build_dataset(spec: str, locator: DataLocator, options: dict[str, Any] | None = None) -> Any:
    """Instantiates a dataset adapter with the options (``-D KEY=VALUE``) its class accepts."""
    name, arg = split_spec(spec)
    cls = datasets.get(spec)
    return cls(name=name, arg=arg, locator=locator, **options_for(cls, options))


def run_cell(
    model_spec: str,
    dataset_spec: str,
    split: str | None = None,
    options: dict[str, Any] | None = None,
    settings: EvalSettings | None = None,
    locator: DataLocator | None = None,
    results_dir: Path | None = USER_RUNS,
    dataset_options: dict[str, Any] | None = None,
    training: TrainSettings | None = None,
) -> CellResult:
    """Resolves the cell (every name and option checked before anything loads), then runs it."""
    cell = Cell.resolve(model_spec, dataset_spec, split, options, dataset_options, settings, training)
    return run_resolved(cell, locator, results_dir)


@dataclass
class CellRun:
    """A cell's finished run before it is written: the record and its per-query arrays. A
    remote worker returns this to the driver, the one writer of the results folder."""
    record: dict[str, Any]
    per_query: dict[str, Any]
    sidecars: dict[str, dict[str, Any]]


def run_resolved(cell: Cell, locator: DataLocator | None = None,
                 results_dir: Path | None = USER_RUNS) -> CellResult:
    """Loads the data, builds the model, evaluates, checks every metric against its range,
    and writes the record atomically.

    Nothing is written unless the whole evaluation succeeded: an exception or Ctrl-C
    anywhere before the final rename leaves ``results_dir`` as it was.
    """
    return write_run(compute_run(cell, locator), results_dir)


def write_run(run: CellRun, results_dir: Path | None) -> CellResult:
    """Writes a finished run (record + sidecars) atomically; nothing when ``results_dir`` is None."""
    results_dir = results_folder(results_dir)
    path = write_record(run.record, results_dir, run.per_query, run.sidecars) if results_dir is not None else None
    record = json.loads(path.read_text()) if path is not None else run.record  # as written: with sidecar names
    return CellResult(record=record, path=path)


def compute_run(cell: Cell, locator: DataLocator | None = None) -> CellRun:
    """Runs the cell and builds its record, writing nothing (but an --export's files)."""
    settings = cell.settings
    locator = locator or DataLocator()
    started = _dt.datetime.now(_dt.timezone.utc)
    cell.refuse_existing_export()
    export_folder = cell.export_folder

    reset_peak_rss()
    pin_threads(settings.threads)
    dataset = cell.build_dataset(locator)
    with stopwatch() as load_data_sw:
        task = dataset.load(cell.split)
    with stopwatch() as load_model_sw:
        model = cell.build_model()
    check_model(model)
    training, curves = None, None
    if isinstance(model, Trainable) and cell.training is not None:  # None: an untrained mode (zero-shot)
        training, curves = train_model(model, task, dataset, cell)
        settings = replace(settings, use_cache=False)  # a trained model's vectors depend on its weights
    sizes = task.sizes  # the whole split's; a query sample says its own size in details.query_sample
    sampled = None
    if settings.max_queries is not None and settings.max_queries < len(task):  # after training: it learns from all
        rows = np.random.default_rng(QUERY_SAMPLE_SEED).choice(len(task), size=settings.max_queries, replace=False)
        sampled = {"queries": int(settings.max_queries), "of": int(len(task)), "seed": QUERY_SAMPLE_SEED}
        task = get_kind(task.kind).sample_queries(task, rows)
    if settings.device != "cpu":  # checked when the cell resolved: the model evaluates there, torch sees it
        hook(model, "to_device")(settings.device)
    with stopwatch() as total_sw, load_watch() as cell_load:
        result = evaluate(model, task, settings)
    if sampled is not None:
        result.details["query_sample"] = sampled
    check_metrics(result.metrics, cell.name, get_kind(task.kind))
    inherit_cell_load(result.timing, cell_load)
    result.variant.update(serving_variant(settings))
    exported: list[Path] = []
    if export_folder is not None:
        exported = export_format(cell.export[0], cell.kind)[1](task, result, export_folder)

    primary = dataset.primary_metric or result.primary_metric
    model_params = dict(model.params)
    configuration = {
        "model": cell.model, "params": model_params, "dataset": dataset.name, "split": task.split,
        "dataset_options": cell.dataset_options, "fingerprint": task.fingerprint,
        "settings": protocol_settings(settings),
    }
    run_id = started.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    env = Environment()
    accelerator = describe_device(settings.device)
    run = RunRecord(
        schema_version=SCHEMA_VERSION,
        run_id=run_id,
        config_hash=config_hash(configuration),
        cell_key=cell.key,
        cell=CellInfo.from_dict(cell.describe(result.variant)),
        date=started.isoformat(timespec="seconds"),
        model=ModelInfo(name=model.name, spec=cell.model, label=cell.model_label(result.variant),
                        options=cell.model_options, variant=result.variant, params=model_params,
                        version=hook(model, "version"), n_parameters=hook(model, "n_parameters")),
        dataset=DatasetInfo(name=cell.dataset_label, spec=cell.dataset, kind=task.kind, split=task.split, sizes=sizes,
                            options=cell.dataset_options, fingerprint=task.fingerprint, info=task.info),
        primary_metric=primary,
        metrics={name: Estimate.from_dict(estimate, f"metrics.{name}") for name, estimate in result.metrics.items()},
        details=result.details,
        settings=protocol_settings(settings),
        timing={
            "data_load_seconds": load_data_sw.seconds,
            # a lazily loading model loads its weights on first need, inside the evaluation
            "model_load_seconds": load_model_sw.seconds + float(hook(model, "weights_load_seconds")),
            **result.timing,
            "total_seconds": total_sw.seconds + load_model_sw.seconds + load_data_sw.seconds,
            "peak_rss_mb": peak_rss_mb(),
            "threads": thread_count(),
            "load": cell_load,  # the machine while the whole evaluation ran (scenarios.load_watch)
        },
        environment=EnvironmentInfo.from_dict({
            **asdict(env), "fingerprint": env.fingerprint() + (f", {accelerator['name']}" if accelerator else ""),
            **({"accelerator": accelerator} if accelerator else {}),
            **({"calibration": calibration} if (calibration := cached_calibration(env.fingerprint())) else {})}),
        training=training,
        # the suite file that declared the cell: its name and content hash
        suite={"name": cell.suite[0], "sha256": cell.suite[1]} if cell.suite is not None else None,
        exported={"format": cell.export[0], "files": [str(p) for p in exported]} if exported else None,
    )
    record = run.to_dict()
    sidecars = {"training": curves} if curves is not None else {}
    return CellRun(record=record, per_query=result.per_query, sidecars=sidecars)


def cached_calibration(fingerprint: str) -> dict[str, Any] | None:
    """This machine's `recbench calibrate` figures, where they were measured (a run never probes)."""
    from recbench.protocol.calibration import cached

    return cached(fingerprint)


QUERY_SAMPLE_SEED = 0  # --max-queries: one seed, so every row of a dataset is scored on the same queries


def reranker_label(spec: str) -> str:
    """A reranker as a row names it: a checkpoint by the cell that trained it
    (``cross-encoder(amazon-scientific-mix,200steps,seed=0)``), never by its folder's hash; any
    other spec as ``short_spec`` cuts it."""
    from recbench.protocol.rerank import reranker_provenance
    from recbench.protocol.checkpoints import describe_provenance

    trained_by = reranker_provenance(spec)
    return describe_provenance(trained_by) if trained_by else short_spec(spec)


def serving_variant(settings: EvalSettings) -> dict[str, Any]:
    """Serving choices that make a row of their own: a pinned thread count, an item index, a
    reranker over the top K (``sbert{rerank=colbert-minilm@50}``), worker threads and a batcher,
    and MLPerf's loadgen driving the scenarios (``{driver=loadgen}``, a row beside our replay's)."""
    return {**({"threads": settings.threads} if settings.threads else {}),
            **({"index": settings.index} if settings.index != "flat" else {}),
            **({"rerank": f"{reranker_label(settings.rerank)}@{settings.rerank_depth}"} if settings.rerank else {}),
            **({"fuse": fusion_label(settings.fuse)} if settings.fuse else {}),
            **({"max_queries": settings.max_queries} if settings.max_queries is not None else {}),
            **({"workers": settings.server_workers} if settings.server_workers != 1 else {}),
            **({"batch": f"{settings.max_batch}/{settings.max_wait_ms:g}ms"} if settings.max_batch != 1 else {}),
            **({"multistream": settings.multistream} if settings.multistream else {}),
            **({"driver": "loadgen"} if settings.server_loadgen else {}),
            **({"device": settings.device} if settings.device != "cpu" else {})}


def fusion_label(spec: str) -> str:
    from recbench.protocol.fusion import parse_fusion

    return parse_fusion(spec).label()


def training_data_fingerprint(task: Any, train_task: Any, cell: Cell) -> str:
    """What a checkpoint trained on, for its key: the dataset's files, the train part, the fields
    and the split. A split's train part is its own (a sequence model for ``valid`` trains on what
    precedes the validation targets; one for ``test`` trains on them), so a checkpoint of one split
    never serves another: a tuning trial must not score a model that saw its validation targets.
    The dataset's default split is left unsaid, so the keys of earlier cells stay as they were."""
    # datasets whose train parts are one and the same (the wine catalogs) name it, sharing the checkpoint
    part = train_task.info.get("shared_train_part") or cell.dataset_label
    fingerprint = f"{task.fingerprint}|{part}|fields={cell.settings.fields}"
    if cell.split != datasets.get(cell.dataset).default_split:
        fingerprint += f"|split={cell.split}"
    return fingerprint


def train_model(model: Any, task: Any, dataset: Any, cell: Cell) -> tuple[dict[str, Any], dict[str, Any]]:
    """Trains a Trainable model on the task's train part (or loads its cached checkpoint),
    choosing the checkpoint by the primary metric on the kind's validation slice."""
    training = cell.training or TrainSettings()
    train_task, valid_task = split_for_training(task, training.seed)
    few = hook(model, "validation_queries")
    if few is not None and few < len(valid_task) and get_kind(task.kind).sample_queries is not None:
        rows = np.random.default_rng(training.seed).choice(len(valid_task), size=int(few), replace=False)
        valid_task = get_kind(task.kind).sample_queries(valid_task, rows)  # a slow joint scorer validates on fewer
    quick = replace(cell.settings, n_bootstrap=1, latency_queries=0, offline_texts=0, server_p99_ms=None,
                    progress=False, use_cache=False)
    metric = dataset.primary_metric or get_kind(task.kind).primary_metric

    def validate() -> float:
        return evaluate(model, valid_task, quick).metrics[metric]["value"]

    fingerprint = training_data_fingerprint(task, train_task, cell)
    trained_by = {"model": cell.model, "model_options": cell.model_options, "dataset": cell.dataset,
                  "dataset_options": cell.dataset_options, "split": cell.split,
                  "budget": training.budget.describe(), "seed": training.seed}
    return fit_or_load(model, train_task, validate, training, fingerprint, metric, cell.settings.progress,
                       trained_by=trained_by)
