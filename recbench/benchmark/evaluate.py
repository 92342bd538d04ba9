"""The evaluation core: settings, the result of a protocol, and the registry of protocols
(one per task kind, in ``recbench/benchmark/kinds/``, each registering itself with the
capabilities it needs and its poolings). It knows capabilities, never model or dataset names,
and imports no kind: the kinds are loaded on first use, so no module imports back into it.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np


class EvaluationError(RuntimeError):
    """The model produced something that cannot be scored (NaN, wrong shape, ...)."""


@dataclass
class EvalSettings:
    batch_size: int = 32
    seed: int = 0
    n_bootstrap: int = 1000
    latency_queries: int = 200
    warmup_texts: int = 64
    progress: bool = True
    pooling: str = "mean"  # impressions/sequences: how a user profile is pooled from history embeddings
    topk: int = 3
    recency_decay: float = 0.8  # sequences, pooling=recency: weight decay**age
    mix_weight: float = 0.5
    fields: tuple[str, ...] | None = None  # impressions: item fields forming the text (None: dataset default)
    use_cache: bool = True  # impressions: reuse item embeddings cached on disk
    cache_dir: str | None = None
    # serving: what is timed, on how many threads, over which item index (scenarios.py)
    threads: int | None = None  # None: each library's default thread pool
    index: str = "flat"  # full-ranking kinds: the item index of the serving path (indexes.py)
    offline_batches: tuple[int, ...] = (1, 8, 32, 128)
    offline_texts: int = 256  # 0: no offline scenario
    server_p99_ms: float | None = None  # set: the server scenario with this p99 bound
    server_seconds: float = 5.0  # at least this much real time per probe of an arrival rate
    server_min_queries: int = 300  # and at least this many queries per probe
    server_repeats: int = 2  # a rate passes only if each of this many probes does


# settings added after records were written: part of a cell's identity only when changed, so
# the cells recorded before them keep their keys
LATER_SETTINGS = {"threads": None, "index": "flat", "offline_batches": (1, 8, 32, 128), "offline_texts": 256,
                  "server_p99_ms": None, "server_seconds": 5.0, "server_min_queries": 0, "server_repeats": 1}
# the server scenario's own settings key a cell only where the scenario runs (--server-p99-ms)
SERVER_SETTINGS = ("server_seconds", "server_min_queries", "server_repeats")


@dataclass
class EvalResult:
    metrics: dict[str, dict[str, float]]
    primary_metric: str
    timing: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    variant: dict[str, Any] = field(default_factory=dict)  # protocol choices that name a distinct row
    # per-query values for paired significance (the run's sidecar file): "query_id" plus one
    # array per metric (NaN where undefined); pairs store "prediction" and "gold" instead
    per_query: dict[str, np.ndarray] = field(default_factory=dict)
    # impressions: every test candidate's score, flat in the task's order (for --export; not recorded)
    scores: np.ndarray | None = None


PROTOCOLS: dict[str, Callable[[Any, Any, EvalSettings], EvalResult]] = {}
REQUIREMENTS: dict[str, tuple[type, ...]] = {}
# --export FORMAT DIR: format -> (the task kind it applies to, writer(task, result, folder) -> files written)
EXPORTS: dict[str, tuple[str, Callable[[Any, "EvalResult", Path], list[Path]]]] = {}
POOLINGS_BY_KIND: dict[str, tuple[str, ...]] = {}  # the one vocabulary of --pooling, per task kind
_loaded = False


def protocol(kind: str, needs: tuple[type, ...], poolings: tuple[str, ...] = ()) -> Callable:
    """Registers the protocol for a task kind, the capabilities a model needs for it, and the
    ways it can pool a user's history (none for kinds without histories)."""

    def decorate(fn: Callable[[Any, Any, EvalSettings], EvalResult]) -> Callable:
        PROTOCOLS[kind] = fn
        REQUIREMENTS[kind] = needs
        POOLINGS_BY_KIND[kind] = poolings
        return fn

    return decorate


def load_kinds() -> None:
    """Imports every module of ``recbench.benchmark.kinds`` once: each registers its protocol."""
    global _loaded
    if _loaded:
        return
    import recbench.benchmark.kinds as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    _loaded = True


CATALOGS: dict[str, Callable[[Any, "EvalSettings"], list[str]]] = {}


def item_catalog(kind: str) -> Callable:
    """Registers which item texts a kind's protocol encodes (and caches) for an encoder, in
    the order it encodes them: the sharded encode fills the embedding cache with exactly these."""

    def decorate(fn: Callable[[Any, EvalSettings], list[str]]) -> Callable:
        CATALOGS[kind] = fn
        return fn

    return decorate


TRAINING_SPLITS: dict[str, Callable[[Any, int], tuple[Any, Any]]] = {}


def training_split(kind: str) -> Callable:
    """Registers how a task kind carves (train part, validation slice) out of a task's training
    data for a Trainable model; the evaluated split never goes into either."""

    def decorate(fn: Callable[[Any, int], tuple[Any, Any]]) -> Callable:
        TRAINING_SPLITS[kind] = fn
        return fn

    return decorate


def split_for_training(task: Any, seed: int) -> tuple[Any, Any]:
    load_kinds()
    if task.kind not in TRAINING_SPLITS:
        raise EvaluationError(f"models cannot be trained on {task.kind!r} tasks yet (no training split for the kind)")
    return TRAINING_SPLITS[task.kind](task, seed)


def pooling_vocabulary() -> dict[str, tuple[str, ...]]:
    """Each task kind's poolings (empty for kinds without histories)."""
    load_kinds()
    return dict(POOLINGS_BY_KIND)


def supports(model_or_class: Any, kind: str) -> bool:
    """Whether a model (or a model class) has a capability that the kind's protocol accepts."""
    load_kinds()
    declared = getattr(model_or_class, "task_kinds", None)  # a model may name the kinds it serves
    if declared is not None and kind not in declared:
        return False
    needs = REQUIREMENTS.get(kind, ())
    if isinstance(model_or_class, type):
        return any(issubclass(model_or_class, cap) for cap in needs) if needs else False
    return any(isinstance(model_or_class, cap) for cap in needs)


def evaluate(model: Any, task: Any, settings: EvalSettings) -> EvalResult:
    load_kinds()
    if task.kind not in PROTOCOLS:
        raise EvaluationError(f"no evaluation protocol for task kind {task.kind!r}")
    if not supports(model, task.kind):
        raise EvaluationError(
            f"model {model.name!r} cannot run {task.kind!r} tasks: it has none of the capabilities "
            f"{', '.join(c.__name__ for c in REQUIREMENTS[task.kind])}"
        )
    return PROTOCOLS[task.kind](model, task, settings)
