"""The run record, typed: ``RunRecord`` and its parts as dataclasses, built by the writer
(``recbench.run.runner``) and read by attribute (``run.model.label``, ``run.primary.value``)
instead of ``rec["model"]["label"]`` chains. ``to_dict`` gives exactly the JSON the JSON Schema
(``recbench/schema/run-record.schema.json``) describes and ``from_dict`` reads it back losslessly:
a field this code does not know is kept in ``extra`` and written again, so a newer writer's
addition survives an older reader. The open-ended sections (``settings``, ``timing``, ``details``,
``training``) stay dicts: their keys belong to the task kinds and the scenarios.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Mapping



def _known(cls: type) -> list[str]:
    return [f.name for f in fields(cls) if f.name not in ("extra", "left_out")]


def _split(cls: type, data: Mapping[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be an object, not {type(data).__name__}")
    known = set(_known(cls))
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in required if name not in data]
    if missing:  # named, not a constructor's TypeError
        raise ValueError(f"{where}: no {', '.join(map(repr, missing))}")
    return {k: v for k, v in data.items() if k in known}, {k: v for k, v in data.items() if k not in known}


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """An instance from its JSON object; the fields the object leaves out are remembered, so that
    writing it again leaves them out too (a record written before a field existed stays as it was)."""
    known, extra = _split(cls, data, where)
    return cls(**known, extra=extra, left_out=frozenset(set(_known(cls)) - set(data)))


def _dump(obj: Any, omit_none: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _known(type(obj)):
        value = getattr(obj, name)
        if (name in obj.left_out) if obj.left_out is not None else (value is None and name in omit_none):
            continue
        out[name] = value.to_dict() if hasattr(value, "to_dict") else value
    out.update(obj.extra)
    return out


class _Part:
    """What every part of the record shares: read from its JSON object, written back to one.
    ``extra`` holds the fields this code does not know (written back as read); ``left_out`` the
    fields the JSON object left out (a record from before they existed: left out again when
    written), None for a part the writer builds, which leaves out only its unset ``OMIT_NONE``."""

    OMIT_NONE: ClassVar[tuple[str, ...]] = ()  # fields a built part leaves out while unset

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str | None = None) -> Any:
        return _build(cls, data, where or cls.__name__)

    def to_dict(self) -> dict[str, Any]:
        return _dump(self, omit_none=self.OMIT_NONE)


@dataclass(frozen=True)
class Estimate(_Part):
    """A metric's value with its 95% interval (``n``: the queries it averages, where known)."""

    value: float
    ci_low: float
    ci_high: float
    n: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    left_out: frozenset[str] | None = field(default=None, repr=False, compare=False)

    OMIT_NONE: ClassVar[tuple[str, ...]] = ("n",)


@dataclass(frozen=True)
class ModelInfo(_Part):
    name: str
    label: str  # the leaderboard row: spec[model options]{protocol variant}
    params: dict[str, Any]
    spec: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    variant: dict[str, Any] = field(default_factory=dict)
    version: str | int | None = None
    n_parameters: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    left_out: frozenset[str] | None = field(default=None, repr=False, compare=False)

    OMIT_NONE: ClassVar[tuple[str, ...]] = ("spec",)


@dataclass(frozen=True)
class DatasetInfo(_Part):
    name: str
    kind: str
    split: str
    fingerprint: str
    spec: str | None = None
    sizes: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    left_out: frozenset[str] | None = field(default=None, repr=False, compare=False)

    OMIT_NONE: ClassVar[tuple[str, ...]] = ("spec",)


@dataclass(frozen=True)
class EnvironmentInfo(_Part):
    python: str
    packages: dict[str, str]
    platform: str | None = None
    cpu: str | None = None
    cores: int | None = None
    memory_gb: float | None = None
    git_sha: str | None = None
    fingerprint: str | None = None
    calibration: dict[str, Any] | None = None
    accelerator: dict[str, Any] | None = None  # --device: the GPU's device, name and memory
    extra: dict[str, Any] = field(default_factory=dict)
    left_out: frozenset[str] | None = field(default=None, repr=False, compare=False)

    OMIT_NONE: ClassVar[tuple[str, ...]] = ("calibration", "accelerator")


@dataclass(frozen=True)
class CellInfo(_Part):
    """The cell as resolved (what ``CellSpec.from_record`` reads back with the record's settings)."""

    key: str
    model: str
    dataset: str
    split: str
    kind: str
    model_options: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    variant: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    left_out: frozenset[str] | None = field(default=None, repr=False, compare=False)

    OMIT_NONE: ClassVar[tuple[str, ...]] = ("training",)


PARTS = {"model": ModelInfo, "dataset": DatasetInfo, "environment": EnvironmentInfo, "cell": CellInfo}
OPTIONAL = ("cell", "training", "details", "sidecar", "sidecar_sha256", "sidecars", "executor", "suite", "exported")


@dataclass(frozen=True)
class RunRecord:
    """One run of one cell. Optional sections are None where a run has none (and then left out)."""

    schema_version: int
    run_id: str
    date: str
    cell_key: str
    config_hash: str
    model: ModelInfo
    dataset: DatasetInfo
    settings: dict[str, Any]
    primary_metric: str
    metrics: dict[str, Estimate]
    timing: dict[str, Any]
    environment: EnvironmentInfo
    cell: CellInfo | None = None
    training: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    sidecar: str | None = None
    sidecar_sha256: str | None = None
    sidecars: dict[str, Any] | None = None
    executor: dict[str, Any] | None = None
    suite: dict[str, str] | None = None
    exported: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    left_out: frozenset[str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunRecord":
        """A record as JSON gives it (after ``read_record``'s upgrade and schema check)."""
        known, extra = _split(cls, data, "record")
        for name, part in PARTS.items():
            if known.get(name) is not None:
                known[name] = part.from_dict(known[name], name)
        known["metrics"] = {m: Estimate.from_dict(e, f"metrics.{m}") for m, e in known["metrics"].items()}
        return cls(**known, extra=extra, left_out=frozenset(set(_known(cls)) - set(data)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON record; an optional section is written where it is set (or was read)."""
        out: dict[str, Any] = {}
        for name in _known(RunRecord):
            value = getattr(self, name)
            if (name in self.left_out) if self.left_out is not None else (value is None and name in OPTIONAL):
                continue
            if name == "metrics":
                value = {m: e.to_dict() for m, e in value.items()}
            elif hasattr(value, "to_dict"):
                value = value.to_dict()
            out[name] = value
        out.update(self.extra)
        return out

    @property
    def primary(self) -> Estimate:
        """The estimate of the record's primary metric."""
        return self.metrics[self.primary_metric]

    @property
    def latency(self) -> dict[str, Any]:
        """p50/p90/p95/p99 per query (ms) and their load watch, where the run timed queries."""
        return self.timing.get("latency") or {}

    @property
    def trained(self) -> bool:
        return bool(self.training)

    @property
    def query_sample(self) -> dict[str, int] | None:
        """The ``--max-queries`` sample (queries, of, seed), or None for a run over every query."""
        return (self.details or {}).get("query_sample")


def as_run(record: "Mapping[str, Any] | RunRecord") -> RunRecord:
    """A record as a :class:`RunRecord`, read from its JSON form where it is one."""
    return record if isinstance(record, RunRecord) else RunRecord.from_dict(record)
