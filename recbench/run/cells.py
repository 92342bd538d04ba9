"""A benchmark cell, resolved once: which model with which of its own options, on which dataset
split with which dataset options, under which protocol settings.

Everything a user can get wrong about a cell is checked here, before any data or weights load:
an unknown name, an option nobody takes, a split the dataset lacks, a model without a
capability the task kind needs, a pooling the kind does not know. The same object then travels
through the run (in a child process too), the record and the report, so a cell is named the
same way everywhere: model options in ``[...]``, protocol variants in ``{...}``, never mixed
(`sif[pc=reference]`, `sif{k=3,pooling=topk}`, `plugin[pooling=cls]{k=3,pooling=topk}`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from recbench.protocol.settings import UNKEYED_WHEN_DEFAULT, SERVER_SETTINGS, EvalSettings
from recbench.protocol.devices import DeviceError, check_device
from recbench.protocol.model_contract import hook
from recbench.protocol.kinds.base import all_kinds, export_format, get_kind, pooling_vocabulary, supports
from recbench.protocol.options import OptionError, typed_options
from recbench.protocol.registry import baselines, datasets, split_spec
from recbench.protocol.options import format_label
from recbench.results.cell_spec import NOT_PROTOCOL, CellSpec, Matrix
from recbench.results.records import short_spec
from recbench.run.training import Budget, Trainable, TrainSettings
from recbench.protocol.options import truthy

DEFAULT_POOLING = EvalSettings.pooling


class CellError(ValueError):
    """A cell that cannot run as asked; raised before anything is loaded."""


class UnsupportedCell(CellError):
    """The model has none of the capabilities the dataset's task kind needs (a grid skips it)."""


def accepted_options(factory: Any) -> set[str] | None:
    """Keyword options a factory takes; None when it takes ``**kwargs`` (anything)."""
    sig = inspect.signature(factory)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {
        name for name, p in sig.parameters.items()
        if name not in ("self", "arg") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def content_digest(arg: str | None) -> str | None:
    """sha256 over the content of the file or folder a dataset argument names (each file's
    relative path and bytes, hidden files left out); None when it names no path."""
    if not arg:
        return None
    path = Path(arg).expanduser()
    if path.is_file():
        files, root = [path], path.parent
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        root = path
    else:
        return None
    from recbench.protocol.data import sha256_of

    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root)).encode("utf-8", "surrogateescape") + b"\0" + sha256_of(f).encode())
    return h.hexdigest()[:16]


def options_for(factory: Any, options: dict[str, Any] | None) -> dict[str, Any]:
    accepted = accepted_options(factory)
    options = dict(options or {})
    return options if accepted is None else {k: v for k, v in options.items() if k in accepted}


def config_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def protocol_settings(settings: EvalSettings) -> dict[str, Any]:
    """The settings that change a run's numbers (not progress bars or cache locations)."""
    return {k: v for k, v in asdict(settings).items() if k not in ("progress", "cache_dir", "use_cache")
            and not (k in UNKEYED_WHEN_DEFAULT and v == UNKEYED_WHEN_DEFAULT[k])
            and not (k in SERVER_SETTINGS and settings.server_p99_ms is None)}


def served_as_encoder(factory: Any) -> bool:
    """Whether the protocols score this model through its item vectors (and so pool a user's
    history): what ``served_as`` says of its class."""
    from recbench.protocol.capabilities import served_as

    if not isinstance(factory, type):
        return True  # a plain factory function: nothing to tell, nothing refused
    return served_as(factory) == "encoder"


def check_protocol_settings(kind: str, settings: EvalSettings, dataset: str, model: str, factory: Any) -> None:
    """Settings the cell would ignore are refused, so that a cell has one identity: a pooling
    for a model that pools no history, a k for a pooling without one."""
    check_pooling(kind, settings.pooling, dataset)
    if settings.pooling != DEFAULT_POOLING and not served_as_encoder(factory):
        raise CellError(f"--pooling {settings.pooling} does not apply to {model}: it scores users itself and pools "
                        "no history embeddings (pooling is for encoders)")
    if settings.topk != EvalSettings.topk and settings.pooling not in ("topk", "mix"):
        raise CellError(f"--topk {settings.topk} applies with --pooling topk or mix only, not {settings.pooling}")


def check_pooling(kind: str, pooling: str, dataset: str) -> None:
    """One vocabulary per task kind, declared by the kind's protocol; the default ``mean``
    means "no choice made" and is accepted everywhere."""
    vocabulary = pooling_vocabulary()
    allowed = vocabulary.get(kind, ())
    if pooling == DEFAULT_POOLING or pooling in allowed:
        return
    known = "; ".join(f"{k}: {', '.join(v)}" for k, v in vocabulary.items() if v)
    if not allowed:
        raise CellError(f"--pooling {pooling} does not apply to {kind!r} tasks ({dataset}): they pool no "
                        f"history. Poolings by task kind: {known}")
    raise CellError(f"--pooling {pooling} is not a pooling of {kind!r} tasks ({dataset}); choose one of "
                    f"{', '.join(allowed)}")


@dataclass(frozen=True)
class Cell:
    """One model x dataset split x settings; build it with :meth:`resolve`."""

    model: str  # spec as given: "sif", "sbert:/path/to/model"
    dataset: str  # spec as given: "lee", "mind:/data/x"
    split: str
    kind: str
    model_options: dict[str, Any] = field(default_factory=dict)  # only those the model accepts
    dataset_options: dict[str, Any] = field(default_factory=dict)  # only those the dataset accepts
    settings: EvalSettings = field(default_factory=EvalSettings)
    training: TrainSettings | None = None  # set for Trainable models only
    export: tuple[str, str] | None = None  # (format, folder) of --export; not part of what the cell *is*
    # a dataset read from a path you give (pairs:F, interactions:DIR, mind:DIR): the digest of the
    # files' content, so the same relative name over other files is another cell
    dataset_content: str | None = None
    # the suite file that declared the cell (name, sha256 of the file), kept in its record; not what the cell *is*
    suite: tuple[str, str] | None = None

    @classmethod
    def resolve(cls, model: str, dataset: str, split: str | None = None, options: dict[str, Any] | None = None,
                dataset_options: dict[str, Any] | None = None, settings: EvalSettings | None = None,
                training: TrainSettings | None = None, export: tuple[str, str] | None = None) -> "Cell":
        """Looks every name up and checks every choice; raises UnknownNameError, CellError or
        UnsupportedCell naming what is wrong. Loads nothing."""
        settings = settings or EvalSettings()
        factory = baselines.get(model)
        dataset_cls = datasets.get(dataset)
        split = split or dataset_cls.default_split
        if split not in dataset_cls.splits:
            raise CellError(f"dataset {dataset!r} has no split {split!r}; choose one of {', '.join(dataset_cls.splits)}")
        kind = dataset_cls.kind
        if not supports(factory, kind):
            raise UnsupportedCell(f"{model} cannot run {kind!r} tasks")
        check_protocol_settings(kind, settings, dataset, model, factory)
        try:
            check_device(settings.device, model, tuple(hook(factory, "eval_devices")))
        except DeviceError as exc:
            raise CellError(str(exc)) from None
        check_serving(kind, settings, dataset)
        try:
            options = typed_options(factory, options_for(factory, options), f"model {model!r}")
            dataset_options = typed_options(dataset_cls, options_for(dataset_cls, dataset_options),
                                            f"dataset {dataset!r}")
        except OptionError as exc:
            raise CellError(str(exc)) from None
        unread = hook(factory, "unread_options")
        ignored = sorted(unread(options)) if unread is not None else []
        if ignored:
            raise CellError(f"model {model!r} does not read {', '.join(map(repr, ignored))} with the other options given "
                            "(it would change nothing yet make a row of its own); leave it out")
        if export is not None:
            check_export(export[0], kind)
        # a Trainable class may have untrained modes (recformer's zero_shot): its ``trains(options)`` says
        trainable = isinstance(factory, type) and issubclass(factory, Trainable) and truthy(
            (hook(factory, "trains") or (lambda _options: True))(options_for(factory, options)))
        train_kinds = hook(factory, "train_kinds") if trainable else None
        if train_kinds is not None and kind not in train_kinds:
            raise UnsupportedCell(f"{model} trains on {', '.join(map(repr, train_kinds))} tasks, not {kind!r} "
                                  f"({dataset}); run it in a mode that does not train, or on a dataset of those kinds")
        if trainable:
            training = training or TrainSettings()
            try:  # no step count given: the model's own default budget (a time alone caps it)
                training = replace(training, budget=training.budget.with_model_default(factory))
            except ValueError as exc:
                raise CellError(str(exc)) from None
        cell = cls(model=model, dataset=dataset, split=split, kind=kind, dataset_content=content_digest(split_spec(dataset)[1]),
                   model_options=options_for(factory, options), dataset_options=options_for(dataset_cls, dataset_options),
                   settings=settings, training=training if trainable else None,
                   export=(export[0], str(export[1])) if export is not None else None)
        cell.refuse_existing_export()
        return cell

    @classmethod
    def from_spec(cls, spec: CellSpec, retrain: bool = False, export: tuple[str, str] | None = None,
                  suite: tuple[str, str] | None = None, **settings: Any) -> "Cell":
        """The cell a :class:`CellSpec` describes (a suite's, a record's, the command line's),
        resolved and checked; ``settings`` override the spec's (``progress=False``)."""
        given = dict(spec.training or {})
        try:
            budget = Budget.parse(str(given["budget"])) if given.get("budget") else Budget()
        except ValueError as exc:
            raise CellError(f"training budget {given['budget']!r}: {exc}") from None
        training = TrainSettings(budget=budget, seed=int(given.get("seed", 0)),
                                 validations=int(given.get("validations", 4)), retrain=retrain,
                                 tuned=str(given["tuned"]) if given.get("tuned") else None)
        cell = cls.resolve(spec.model, spec.dataset, spec.split, dict(spec.options), dict(spec.dataset_options),
                           spec.eval_settings(**settings), training, export)
        return cell if suite is None else replace(cell, suite=suite)

    def spec(self) -> CellSpec:
        """This cell as data (what a suite file or a record's cell section holds)."""
        settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.settings).items()
                    if k not in NOT_PROTOCOL and not (k in SERVER_SETTINGS and self.settings.server_p99_ms is None)}
        return CellSpec.from_dict({"model": self.model, "dataset": self.dataset, "split": self.split,
                                   "options": self.model_options, "dataset_options": self.dataset_options,
                                   "settings": settings,
                                   **({"training": self.training.key_payload()} if self.training else {})})

    def refuse_existing_export(self) -> None:
        """Exported files are never overwritten: checked when the cell is resolved and again just
        before it runs (an earlier cell of the grid may have written the same folder)."""
        folder = self.export_folder
        if folder is not None and folder.is_dir() and any(folder.iterdir()):
            raise CellError(f"--export: {folder} holds files already; move them away or "
                            "export into another folder (files are never overwritten)")

    @property
    def export_folder(self) -> Path | None:
        """Where --export writes this cell's files: one folder per model x dataset label."""
        if self.export is None:
            return None
        name = re.sub(r"[^A-Za-z0-9._=,+-]+", "_", f"{self.model_label()}__{self.dataset_label}__{self.split}")
        return Path(self.export[1]) / name

    @property
    def name(self) -> str:
        return f"{self.model} x {self.dataset} ({self.split})"

    @property
    def key(self) -> str:
        """What the cell *is*: a grid skips a cell whose key already has a record. Model
        options and protocol settings are hashed under separate names."""
        payload = {"model": self.model, "options": self.model_options, "dataset": self.dataset,
                   "dataset_options": self.dataset_options, "split": self.split,
                   "settings": protocol_settings(self.settings)}
        if self.training is not None:  # only trained cells carry it: older keys stay as they were
            payload["training"] = self.training.key_payload()
        if self.dataset_content is not None:  # only datasets read from a path: older keys stay as they were
            payload["dataset_content"] = self.dataset_content
        return config_hash(payload)

    @property
    def dataset_label(self) -> str:
        """The dataset as rows and file names show it: a folder argument by its last part and a
        digest of its path (the record's ``dataset.spec`` keeps the path)."""
        if self.dataset_content is not None:  # named by what the files hold, not where they lie
            name, arg = split_spec(self.dataset)
            last = Path(str(arg).rstrip("/\\")).name or str(arg)
            return format_label(f"{name}:{last}-{self.dataset_content[:6]}", self.dataset_options)
        return format_label(short_spec(self.dataset, hashed=True), self.dataset_options)

    def model_label(self, variant: dict[str, Any] | None = None) -> str:
        """The row's name from what keys the cell: options, protocol variant, and a training
        budget other than the model's default (``sasrec{train=600steps}``); the seed is not in it
        (a row is its seeds)."""
        variant = dict(variant or {})
        if self.training is not None:
            default = Budget().with_model_default(baselines.get(self.model))
            if self.training.budget != default:
                variant["train"] = self.training.budget.describe().replace(",", "+")
            if self.training.tuned:
                variant["tuned"] = self.training.tuned
        return format_label(self.model, self.model_options, variant)

    def build_model(self) -> Any:
        factory = baselines.get(self.model)
        return factory(arg=split_spec(self.model)[1], **self.model_options)

    def build_dataset(self, locator: Any) -> Any:
        name, arg = split_spec(self.dataset)
        return datasets.get(self.dataset)(name=name, arg=arg, locator=locator, **self.dataset_options)

    def describe(self, variant: dict[str, Any] | None = None) -> dict[str, Any]:
        """The cell as the record stores it."""
        return {"key": self.key, "model": self.model, "model_options": self.model_options,
                "dataset": self.dataset, "dataset_options": self.dataset_options, "split": self.split,
                "kind": self.kind, "variant": dict(variant or {}),
                **({"training": self.training.key_payload()} if self.training is not None else {})}


def check_fusion(spec: str, kind: str, dataset: str) -> None:
    """--fuse: a well-formed spec of known, untrained models that rank this kind."""
    from recbench.protocol.fusion import parse_fusion
    from recbench.protocol.settings import EvaluationError

    if get_kind(kind).cutoffs is None:
        ranking = ", ".join(k.name for k in all_kinds() if k.cutoffs is not None)
        raise UnsupportedCell(f"--fuse applies to ranking tasks ({ranking}), not {kind!r} ({dataset})")
    try:
        fused = parse_fusion(spec)
    except EvaluationError as exc:
        raise CellError(str(exc)) from None
    for name, _ in fused.others:
        model = baselines.get(split_spec(name)[0])  # an unknown name fails here, naming it
        if not supports(model, kind):
            raise UnsupportedCell(f"--fuse {spec}: {name} cannot rank {kind!r} tasks")
        if isinstance(model, type) and issubclass(model, Trainable) and truthy(
                (hook(model, "trains") or (lambda _options: True))({})):
            raise CellError(f"--fuse {spec}: {name} trains; a fused model is built as given (an untrained one)")


def check_serving(kind: str, settings: EvalSettings, dataset: str) -> None:
    """--threads, --index and the scenario settings, checked before anything loads."""
    from recbench.protocol.indexes import INDEXES

    if settings.batch_size < 1:
        raise CellError(f"--batch-size must be at least 1, got {settings.batch_size}")
    if settings.latency_queries < 0 or settings.n_bootstrap < 1:
        raise CellError("--latency-queries must not be negative and --n-bootstrap must be at least 1")
    if settings.threads is not None and settings.threads < 1:
        raise CellError(f"--threads must be at least 1, got {settings.threads}")
    if settings.index not in INDEXES:
        raise CellError(f"--index {settings.index!r} is not one of {', '.join(INDEXES)}")
    if settings.index != "flat" and not get_kind(kind).searches_index:
        searching = ", ".join(k.name for k in all_kinds() if k.searches_index)
        raise UnsupportedCell(f"--index {settings.index} applies to full-ranking tasks ({searching}), "
                              f"not {kind!r} ({dataset})")
    if settings.rerank is not None:
        reranking = ", ".join(k.name for k in all_kinds() if k.reranks)
        if not get_kind(kind).reranks:
            raise UnsupportedCell(f"--rerank applies to {reranking} tasks, not {kind!r} ({dataset})")
        name, arg = split_spec(settings.rerank)
        reranker = baselines.get(name)  # an unknown name fails here, naming it
        if not supports(reranker, kind) and not getattr(reranker, "score_candidates", None):
            raise UnsupportedCell(f"--rerank {settings.rerank} cannot score {kind!r} tasks")
        if arg is None and isinstance(reranker, type) and issubclass(reranker, Trainable) and truthy(
                (hook(reranker, "trains") or (lambda _options: True))({})):
            raise CellError(f"--rerank {settings.rerank}: a reranker is built as given, and this model trains; "
                            f"give a zero-shot model or a trained checkpoint ({name}:<checkpoint folder>, the "
                            "folder its training record names)")
    if settings.fuse is not None:
        check_fusion(settings.fuse, kind, dataset)
    if settings.seen_items != "excluded":
        if settings.seen_items != "kept":
            raise CellError(f"--seen-items is excluded or kept, not {settings.seen_items!r}")
        if kind != "sequences":
            raise UnsupportedCell(f"--seen-items applies to sequences tasks (a user's history), not {kind!r} ({dataset})")
    if settings.max_queries is not None:
        if settings.max_queries < 1:
            raise CellError(f"--max-queries must be at least 1, got {settings.max_queries}")
        if get_kind(kind).sample_queries is None:
            raise UnsupportedCell(f"--max-queries: {kind!r} tasks ({dataset}) cannot be sampled")
    if settings.cutoffs is not None:
        if not settings.cutoffs or any(not isinstance(k, int) or k < 1 for k in settings.cutoffs) \
                or len(set(settings.cutoffs)) != len(settings.cutoffs):
            raise CellError(f"--cutoffs takes distinct whole numbers >= 1 (5,10,20), not {settings.cutoffs!r}")
        if get_kind(kind).cutoffs is None:
            ranking = ", ".join(k.name for k in all_kinds() if k.cutoffs is not None)
            raise UnsupportedCell(f"--cutoffs applies to ranking tasks ({ranking}), not {kind!r} ({dataset})")
    if settings.rerank_depth < 1:
        raise CellError(f"--rerank-depth must be at least 1, got {settings.rerank_depth}")
    if settings.rerank is None and settings.rerank_depth != EvalSettings.rerank_depth:
        raise CellError("--rerank-depth applies with --rerank only")
    if any(b < 1 for b in settings.offline_batches) or settings.offline_texts < 0:
        raise CellError("offline scenario: batch sizes must be at least 1 and the text count not negative")
    if settings.server_p99_ms is not None and (settings.server_p99_ms <= 0 or settings.server_seconds <= 0):
        raise CellError("--server-p99-ms and --server-seconds must be positive")
    if settings.server_min_queries < 0 or settings.server_repeats < 1:
        raise CellError("--server-min-queries must not be negative and --server-repeats must be at least 1")
    if settings.server_p99_ms is None and (settings.server_seconds, settings.server_min_queries,
                                           settings.server_repeats) != (EvalSettings.server_seconds,
                                                                        EvalSettings.server_min_queries,
                                                                        EvalSettings.server_repeats):
        raise CellError("--server-seconds, --server-min-queries and --server-repeats apply with --server-p99-ms only")
    if settings.server_workers < 1 or settings.max_batch < 1 or settings.max_wait_ms < 0 or settings.multistream < 0:
        raise CellError("--server-workers and --max-batch must be at least 1, --max-wait-ms and --multistream "
                        "not negative")
    concurrent = (settings.server_workers, settings.max_batch, settings.max_wait_ms) != (1, 1, 0.0)
    if concurrent and settings.server_p99_ms is None and not settings.multistream:
        raise CellError("--server-workers, --max-batch and --max-wait-ms apply to the server scenario "
                        "(--server-p99-ms) or MultiStream (--multistream)")
    if settings.server_loadgen:
        if settings.server_p99_ms is None and not settings.multistream:
            raise CellError("--server-mlperf drives the server (--server-p99-ms) or MultiStream (--multistream) scenario")
        import importlib.util

        if importlib.util.find_spec("mlperf_loadgen") is None:
            raise CellError("--server-mlperf drives the scenarios with MLPerf's loadgen: pip install -e '.[mlperf]' "
                            "(the mlcommons-loadgen package)")
    if settings.max_wait_ms > 0 and settings.max_batch == 1:
        raise CellError("--max-wait-ms applies with --max-batch above 1 (a batcher waits to fill a batch)")


def check_export(fmt: str, kind: str) -> None:
    """An unknown format is an error; a format of another task kind skips the cell."""
    try:
        export_format(fmt)
    except KeyError as exc:
        raise CellError(str(exc.args[0])) from None
    if fmt not in get_kind(kind).exports:
        writers = ", ".join(repr(k.name) for k in all_kinds() if fmt in k.exports)
        raise UnsupportedCell(f"--export {fmt} writes {writers} cells only, not {kind!r}")


def check_options_taken(matrix: Matrix) -> None:
    """An option that no model (or dataset) of the grid takes is a typo, refused before anything runs."""
    factories = {m: baselines.get(m) for m in matrix.models}
    classes = {d: datasets.get(d) for d in matrix.datasets}
    for key in matrix.options:
        if not any((acc := accepted_options(f)) is None or key in acc for f in factories.values()):
            raise CellError(f"option {key!r} is accepted by none of the models {', '.join(matrix.models)}")
    for key in matrix.dataset_options:
        if not any((acc := accepted_options(c)) is None or key in acc for c in classes.values()):
            raise CellError(f"dataset option {key!r} is accepted by none of the datasets {', '.join(matrix.datasets)}")


def plan_specs(specs: list[CellSpec], retrain: bool = False, export: tuple[str, str] | None = None,
               suite: tuple[str, str] | None = None, **settings: Any) -> tuple[list[Cell], list[tuple[str, str, str]]]:
    """Every cell resolved up front: the runnable ones (a model that does not train gives one cell
    whatever the training seeds; a cell asked twice stays twice, and the grid skips the second as
    recorded) and the skipped ones (model, dataset, reason)."""
    cells: list[Cell] = []
    skipped: list[tuple[str, str, str]] = []
    previous: tuple[Any, str] | None = None  # the last spec without its training seed, and its cell's key
    for spec in specs:
        try:
            cell = Cell.from_spec(spec, retrain=retrain, export=export, suite=suite, **settings)
        except UnsupportedCell as exc:
            if (spec.model, spec.dataset, str(exc)) not in skipped:
                skipped.append((spec.model, spec.dataset, str(exc)))
            continue
        unseeded = (replace(spec, training={k: v for k, v in (spec.training or {}).items() if k != "seed"}), cell.key)
        if cell.training is None and unseeded == previous:
            continue  # an untrained model's copy for the next training seed of a matrix
        previous = unseeded
        cells.append(cell)
    return cells, skipped


def plan(models: list[str], dataset_specs: list[str], split: str | None, options: dict[str, Any],
         dataset_options: dict[str, Any], settings: EvalSettings, training: TrainSettings | None = None,
         export: tuple[str, str] | None = None,
         train_seeds: list[int] | None = None) -> tuple[list[Cell], list[tuple[str, str, str]]]:
    """Every model x dataset cell of a grid (a :class:`Matrix`), resolved up front; a trained cell
    once per seed of ``train_seeds``."""
    protocol = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items() if k not in NOT_PROTOCOL}
    trained = None if training is None else {"budget": training.budget.describe() if training.budget != Budget() else None,
                                             "seed": training.seed, "validations": training.validations}
    matrix = Matrix.from_dict({"models": list(models), "datasets": list(dataset_specs), "options": dict(options),
                               "dataset_options": dict(dataset_options), "settings": protocol,
                               **({"split": split} if split else {}),
                               **({"training": {k: v for k, v in trained.items() if v is not None}} if trained else {}),
                               **({"seeds": list(train_seeds)} if train_seeds else {})})
    check_options_taken(matrix)
    return plan_specs(matrix.specs(), retrain=bool(training and training.retrain), export=export,
                      progress=settings.progress, use_cache=settings.use_cache, cache_dir=settings.cache_dir)


MAX_TRAIN_SEEDS = 1000  # a count beyond this is a typo, not a plan (and must not build a huge list)


def parse_train_seeds(text: str) -> list[int]:
    """``--train-seeds``: a count (``3`` = seeds 0, 1, 2) or the seeds themselves (``0,1,2``; ``5,``)."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        count = int(parts[0]) if len(parts) == 1 else None
        seeds = [int(p) for p in parts if p]
    except ValueError:
        raise CellError(f"--train-seeds {text!r}: give a count (3) or seeds separated by commas (0,1,2)") from None
    if count is not None:  # outside the try: CellError is a ValueError, and this message must not be replaced
        if not 1 <= count <= MAX_TRAIN_SEEDS:
            hint = " (one number is a count; seed 0 alone is --train-seeds 1 or the list '0,')" if count == 0 else ""
            raise CellError(f"--train-seeds {text!r}: a count of seeds must be from 1 to {MAX_TRAIN_SEEDS} "
                            f"(each seed is a trained cell){hint}")
        return list(range(count))
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise CellError(f"--train-seeds {text!r}: the seeds must be distinct whole numbers >= 0")
    return seeds
