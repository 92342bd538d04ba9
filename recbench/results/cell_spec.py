"""A cell written once, as data: which model with which options, on which dataset split with which
dataset options, under which protocol settings and training. The command line builds one, a suite
file declares them, a record keeps one (its ``cell`` and ``settings`` sections), ``verify`` rebuilds
the cell from it and the site prints its command line (``to_argv``). Checking that the names exist
and the choices fit is ``recbench.run.cells.Cell.from_spec``'s job; this module only carries and
validates the shape, so it needs no registry.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, fields as dataclass_fields
from typing import Any, Iterable, Mapping

from recbench.protocol.settings import SERVER_SETTINGS, UNKEYED_WHEN_DEFAULT, EvalSettings

# EvalSettings fields that are how a run is shown or cached, not what it measures
NOT_PROTOCOL = ("progress", "cache_dir", "use_cache")
# protocol settings with no `recbench run` flag: a suite may set them, a command line cannot
NO_FLAG = ("warmup_texts", "recency_decay", "mix_weight", "offline_batches")
TRAINING_FIELDS = {"budget": str, "seed": int, "validations": int, "tuned": str}
DEFAULT_VALIDATIONS = 4


class CellSpecError(ValueError):
    """A cell's description with a wrong field; the message names the field and where it is."""


def setting_defaults() -> dict[str, Any]:
    return {f.name: f.default for f in dataclass_fields(EvalSettings) if f.name not in NOT_PROTOCOL}


def flag_of(setting: str) -> str:
    """``rerank_depth`` -> ``--rerank-depth``: the `recbench run` option that sets a protocol setting."""
    return "--" + setting.replace("_", "-")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _same(a: Any, b: Any) -> bool:
    return _plain(a) == _plain(b)


def _fits(value: Any, default: Any) -> bool:
    """Whether a setting's value has its default's type (an int where a float is, never a bool for a
    number); a setting whose default is None or a tuple is left to the cell's own checks."""
    if default is None or isinstance(default, tuple):
        return True
    if isinstance(value, bool) or isinstance(default, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    return isinstance(value, (int, float) if isinstance(default, float) else type(default))


@dataclass(frozen=True)
class CellSpec:
    """One cell as plain data; ``settings`` holds only what differs from ``EvalSettings``'s defaults."""

    model: str
    dataset: str
    split: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    # {"budget": "1200steps", "seed": 0, "validations": 4}; a part left out (or all): the model's own budget, seed 0
    training: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "cell") -> "CellSpec":
        """Validates field by field, naming the field (``suites/x.toml: cells[3].options``)."""
        if not isinstance(data, Mapping):
            raise CellSpecError(f"{where}: a cell is a table with at least 'model' and 'dataset'")
        known = {"model": str, "dataset": str, "split": str, "options": Mapping, "dataset_options": Mapping,
                 "settings": Mapping, "training": Mapping}
        for key, value in data.items():
            if key not in known:
                raise CellSpecError(f"{where}: unknown field {key!r} (known: {', '.join(known)})")
            if not isinstance(value, known[key]):
                raise CellSpecError(f"{where}.{key} must be a {'table' if known[key] is Mapping else known[key].__name__}")
        for key in ("model", "dataset"):
            if not data.get(key):
                raise CellSpecError(f"{where}: no {key!r}")
        defaults = setting_defaults()
        settings = dict(data.get("settings") or {})
        for key, value in settings.items():
            if key not in defaults:
                raise CellSpecError(f"{where}.settings: unknown setting {key!r} (known: {', '.join(defaults)})")
            if not _fits(value, defaults[key]):
                raise CellSpecError(f"{where}.settings.{key} must be a {type(defaults[key]).__name__}, not {value!r}")
        training = data.get("training")
        if training is not None:
            training = dict(training)
            for key, value in training.items():
                if key not in TRAINING_FIELDS:
                    raise CellSpecError(f"{where}.training: unknown field {key!r} (known: {', '.join(TRAINING_FIELDS)})")
                if not isinstance(value, TRAINING_FIELDS[key]) or isinstance(value, bool):
                    raise CellSpecError(f"{where}.training.{key} must be a {TRAINING_FIELDS[key].__name__}")
        return cls(model=data["model"], dataset=data["dataset"], split=data.get("split"),
                   options=dict(data.get("options") or {}), dataset_options=dict(data.get("dataset_options") or {}),
                   settings={k: v for k, v in settings.items() if not _same(v, defaults[k])}, training=training)

    def to_dict(self) -> dict[str, Any]:
        """The inverse of :meth:`from_dict`, with empty parts left out (what a suite file holds)."""
        out: dict[str, Any] = {"model": self.model, "dataset": self.dataset}
        if self.split is not None:
            out["split"] = self.split
        for name in ("options", "dataset_options", "settings"):
            if getattr(self, name):
                out[name] = {k: _plain(v) for k, v in sorted(getattr(self, name).items())}
        if self.training is not None:
            out["training"] = dict(self.training)
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "CellSpec":
        """The cell a record ran: its ``cell`` section and its protocol ``settings``. A record written
        before records kept their cell has none: ValueError."""
        cell = record.get("cell")
        if not cell:
            raise CellSpecError("the record has no cell section (written before records kept one); it cannot be "
                                "re-run from what it holds")
        defaults = setting_defaults()
        saved = {k: v for k, v in (record.get("settings") or {}).items() if k in defaults}
        # a record leaves out a setting at the value it had before the setting existed (the cell's key
        # leaves it out too): that value, not today's default, is what the cell ran with
        for key, before in UNKEYED_WHEN_DEFAULT.items():
            if key not in saved and (key not in SERVER_SETTINGS or saved.get("server_p99_ms") is not None):
                saved[key] = before
        return cls(model=cell["model"], dataset=cell["dataset"], split=cell.get("split"),
                   options=dict(cell.get("model_options") or {}), dataset_options=dict(cell.get("dataset_options") or {}),
                   settings={k: v for k, v in saved.items() if not _same(v, defaults[k])},
                   training=dict(cell["training"]) if cell.get("training") else None)

    def eval_settings(self, **overrides: Any) -> EvalSettings:
        """The protocol settings as the evaluation takes them (lists as tuples, the rest default)."""
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in self.settings.items()}
        return EvalSettings(**{**values, **overrides})

    def with_training_seed(self, seed: int) -> "CellSpec":
        """The same cell trained from another seed (a model that does not train ignores it)."""
        return CellSpec(self.model, self.dataset, self.split, self.options, self.dataset_options, self.settings,
                        {**(self.training or {}), "seed": seed})

    def to_argv(self, seeds: Iterable[int] | None = None, default_split: str | None = None) -> list[str]:
        """``recbench run -m ... -d ...`` as a list: every option, setting and the training budget
        that make this cell (``seeds``: a trained row's training seeds; ``default_split``: the
        dataset's own, left unsaid). A setting with no flag cannot be said: ValueError."""
        parts = ["recbench", "run", "-m", self.model, "-d", self.dataset]
        if self.split is not None and self.split != default_split:
            parts += ["--split", self.split]
        for key, value in sorted(self.options.items()):
            parts += ["-o", f"{key}={value}"]
        for key, value in sorted(self.dataset_options.items()):
            parts += ["-D", f"{key}={value}"]
        settings = dict(self.settings)
        if settings.pop("server_loadgen", False):
            # --server-mlperf alone means MLPerf's minimums per probe: the probe length is said outright
            defaults = setting_defaults()
            parts.append("--server-mlperf")
            for key in ("server_seconds", "server_min_queries"):
                settings[key] = settings.get(key, defaults[key])
        for key, value in sorted(settings.items()):
            if key in NO_FLAG:
                raise CellSpecError(f"setting {key!r} has no `recbench run` flag; run this cell from a suite file")
            if value is None:
                continue
            parts += [flag_of(key), ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)]
        if self.training is not None:
            if self.training.get("tuned"):
                raise CellSpecError("a tuned row comes from `recbench tune` (its record's details.tuning holds the search)")
            if self.training.get("validations", DEFAULT_VALIDATIONS) != DEFAULT_VALIDATIONS:
                raise CellSpecError("a training validation count other than 4 has no `recbench run` flag")
            if self.training.get("budget"):
                parts += ["--train-budget", str(self.training["budget"])]
            chosen = sorted(set(seeds)) if seeds else [int(self.training.get("seed", 0))]
            if len(chosen) == 1:  # one seed: `--train-seeds 1` would be a count
                parts += ["--train-seed", str(chosen[0])]
            else:
                parts += ["--train-seeds", ",".join(str(s) for s in chosen)]
        return parts

    def command_line(self, seeds: Iterable[int] | None = None, default_split: str | None = None) -> str:
        return " ".join(shlex.quote(p) for p in self.to_argv(seeds, default_split))


@dataclass(frozen=True)
class Matrix:
    """A grid as data: every model x dataset (x rerank depth x training seed) under one split,
    options, settings and training; what ``recbench run -m A,B -d X,Y`` asks and what a suite's
    ``[[matrix]]`` table declares. An option goes to the models that take it."""

    models: tuple[str, ...]
    datasets: tuple[str, ...]
    split: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] | None = None
    seeds: tuple[int, ...] | None = None  # one cell per training seed (trained models only)
    rerank_depths: tuple[int, ...] | None = None  # one cell per depth (with settings.rerank)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "matrix") -> "Matrix":
        if not isinstance(data, Mapping):
            raise CellSpecError(f"{where}: a matrix is a table with 'models' and 'datasets' lists")
        known = {"models", "datasets", "split", "options", "dataset_options", "settings", "training", "seeds",
                 "rerank_depths"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CellSpecError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        for key in ("models", "datasets"):
            value = data.get(key)
            if not value or not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise CellSpecError(f"{where}.{key} must be a non-empty list of names")
        for key in ("seeds", "rerank_depths"):
            value = data.get(key)
            if value is not None and (not isinstance(value, list) or not value or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value) or len(set(value)) != len(value)):
                raise CellSpecError(f"{where}.{key} must be a non-empty list of distinct whole numbers >= 0")
        # the shared parts are checked as a cell's are
        probe = CellSpec.from_dict({"model": "m", "dataset": "d", **{k: data[k] for k in (
            "split", "options", "dataset_options", "settings", "training") if k in data}}, where)
        return cls(tuple(data["models"]), tuple(data["datasets"]), probe.split, probe.options, probe.dataset_options,
                   probe.settings, probe.training, tuple(data["seeds"]) if data.get("seeds") is not None else None,
                   tuple(data["rerank_depths"]) if data.get("rerank_depths") is not None else None)

    def specs(self) -> list[CellSpec]:
        """Every cell, dataset by dataset (the order `recbench run` has always run a grid in)."""
        out = []
        for depth in self.rerank_depths or (None,):
            settings = dict(self.settings) if depth is None else {**self.settings, "rerank_depth": depth}
            settings = {k: v for k, v in settings.items() if not _same(v, setting_defaults()[k])}
            for dataset in self.datasets:
                for model in self.models:
                    spec = CellSpec(model, dataset, self.split, dict(self.options), dict(self.dataset_options),
                                    settings, dict(self.training) if self.training is not None else None)
                    out += [spec] if not self.seeds else [spec.with_training_seed(s) for s in self.seeds]
        return out
