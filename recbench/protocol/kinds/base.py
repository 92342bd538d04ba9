"""A task kind in one object, registered like models and datasets.

Everything the harness must know about a kind of query lives in its ``TaskKind``: how it is
evaluated, which capabilities a model needs for it, how a user's history may be pooled, which
item texts an encoder is asked for, how a trainable model's data is carved out, its primary
metric, the range of each of its metrics, the export formats it writes and where its tables
stand in the report. The built-in kinds register themselves from ``recbench/protocol/kinds/``;
a plugin adds one through the entry-point group ``recbench.task_kinds`` (its value names a
``TaskKind`` object, ``"my_pkg.kinds:TOY"``). Nothing outside a kind's own module names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from recbench.protocol.settings import EvalResult, EvalSettings, EvaluationError
from recbench.protocol.model_contract import hook
from recbench.protocol.registry import Registry

Protocol_ = Callable[[Any, Any, EvalSettings], EvalResult]
ExportWriter = Callable[[Any, EvalResult, Path], list[Path]]

# the ranges of the metric families every kind shares; a kind adds its own in metric_ranges
RATE = (0.0, 1.0)
CORRELATION_X100 = (-100.0, 100.0)


@dataclass(frozen=True)
class TaskKind:
    """What a task kind is to the harness (MTEB's ``TaskMetadata`` plus its ``_evaluate``)."""

    name: str
    evaluate: Protocol_  # (model, task, settings) -> EvalResult
    needs: tuple[type, ...]  # a model serves the kind if it has any of these capabilities
    primary_metric: str
    metric_ranges: Mapping[str, tuple[float, float]]  # regex over metric names -> (low, high)
    description: str = ""  # one line for the report: what a query is and what its latency times
    poolings: tuple[str, ...] = ()  # the --pooling vocabulary (empty: the kind has no histories)
    catalog_texts: Callable[[Any, EvalSettings], list[str]] | None = None  # item texts an encoder encodes
    training_split: Callable[[Any, int], tuple[Any, Any]] | None = None  # (train part, validation slice)
    exports: Mapping[str, ExportWriter] = field(default_factory=dict)  # --export FORMAT -> writer
    searches_index: bool = False  # its queries search an item index (--index applies)
    reranks: bool = False  # a two-stage pipeline applies (--rerank MODEL --rerank-depth K; rerank.py)
    # (task, query rows) -> the task with only those queries (--max-queries: a seeded sample)
    sample_queries: Callable[[Any, Any], Any] | None = None
    report_order: int = 100  # where its datasets stand in the leaderboard
    # a ranking kind's metric cutoffs when --cutoffs asks for none (e.g. (10,)); None: it ranks nothing
    cutoffs: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ValueError(f"task kind name {self.name!r} must be non-empty and without ':'")
        if not callable(self.evaluate):
            raise TypeError(f"task kind {self.name!r}: evaluate must be callable")
        if not self.needs or not all(isinstance(c, type) for c in self.needs):
            raise TypeError(f"task kind {self.name!r}: needs must be a non-empty tuple of capability classes")
        if self.metric_range(self.primary_metric) is None:
            raise ValueError(f"task kind {self.name!r}: its primary metric {self.primary_metric!r} has no range "
                             "in metric_ranges")

    def metric_range(self, metric: str) -> tuple[float, float] | None:
        """A metric's declared range; a metric over a part of the queries (``ndcg@10[cold]``)
        has its metric's."""
        metric = PART_SUFFIX.sub("", metric)
        for pattern, bounds in self.metric_ranges.items():
            if re.fullmatch(pattern, metric):
                return bounds
        return None


PART_SUFFIX = re.compile(r"\[[a-z][a-z0-9_-]*\]$")  # a metric over a part of the queries: ndcg@10[cold]


def _check_entry(name: str, obj: Any) -> TaskKind:
    if not isinstance(obj, TaskKind):
        raise TypeError(f"task kind entry {name!r} is a {type(obj).__name__}, not a recbench TaskKind")
    if obj.name != name:
        raise ValueError(f"task kind entry {name!r} holds a TaskKind named {obj.name!r}; the names must agree")
    return obj


task_kinds: Registry[TaskKind] = Registry("task kind", "recbench.task_kinds", "recbench.protocol.kinds")


def register_kind(kind: TaskKind) -> TaskKind:
    """Adds a kind (a built-in's module calls this at import; a test or plugin may too)."""
    task_kinds.add(kind.name, kind)
    return kind


def get_kind(name: str) -> TaskKind:
    """The registered kind of this name (an unknown name is refused with close matches)."""
    try:
        return _check_entry(name, task_kinds.get(name))
    except KeyError as exc:
        raise EvaluationError(str(exc)) from None


def all_kinds() -> list[TaskKind]:
    """Every registered kind, in report order. A plugin kind that fails to load is skipped with a
    warning, so one broken plugin cannot break the others."""
    import warnings

    out = []
    for entry in task_kinds:
        try:
            out.append(_check_entry(entry.name, entry.load()))
        except Exception as exc:  # noqa: BLE001 - reported, not swallowed
            warnings.warn(f"task kind {entry.name!r} ({entry.source}) is unusable: {exc}", stacklevel=2)
    return sorted(out, key=lambda k: (k.report_order, k.name))


def supports(model_or_class: Any, kind_name: str) -> bool:
    """Whether a model (or a model class) has a capability that the kind's protocol accepts
    (and, when it names the kinds it serves, names this one)."""
    declared = hook(model_or_class, "task_kinds")
    if declared is not None and kind_name not in declared:
        return False
    needs = get_kind(kind_name).needs
    if isinstance(model_or_class, type):
        return any(issubclass(model_or_class, cap) for cap in needs)
    return any(isinstance(model_or_class, cap) for cap in needs)


def evaluate(model: Any, task: Any, settings: EvalSettings) -> EvalResult:
    """Runs the protocol of the task's kind on a model that can serve it."""
    kind = get_kind(task.kind)
    if not supports(model, kind.name):
        raise EvaluationError(
            f"model {model.name!r} cannot run {kind.name!r} tasks: it has none of the capabilities "
            f"{', '.join(c.__name__ for c in kind.needs)}"
        )
    return kind.evaluate(model, task, settings)


def split_for_training(task: Any, seed: int) -> tuple[Any, Any]:
    """(train part, validation slice) of a task's training data, the kind's way."""
    kind = get_kind(task.kind)
    if kind.training_split is None:
        raise EvaluationError(f"models cannot be trained on {kind.name!r} tasks yet (no training split for the kind)")
    return kind.training_split(task, seed)


def pooling_vocabulary() -> dict[str, tuple[str, ...]]:
    """Each task kind's poolings (empty for kinds without histories)."""
    return {k.name: k.poolings for k in all_kinds()}


def export_format(fmt: str, kind: str | None = None) -> tuple[TaskKind, ExportWriter]:
    """The kind that writes ``--export FMT`` (``kind``'s own writer where it has one) and its writer."""
    known = {f: (k, w) for k in all_kinds() for f, w in k.exports.items()}
    if fmt not in known:
        raise KeyError(f"--export: unknown format {fmt!r}; known: {', '.join(sorted(known)) or 'none'}")
    if kind is not None and fmt in get_kind(kind).exports:
        return get_kind(kind), get_kind(kind).exports[fmt]
    return known[fmt]
