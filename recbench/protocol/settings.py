"""What every evaluation protocol shares: its settings, its result, its error. The protocols
themselves are task kinds (``kinds/base.py``), one module each under ``kinds/``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    # a two-stage pipeline (rerank.py): the top rerank_depth items re-ordered by this model
    rerank: str | None = None
    rerank_depth: int = 100
    # evaluate a seeded sample of this many queries (the same sample for every row), or all
    max_queries: int | None = None
    # ranking kinds: every ranking metric also at these cutoffs (None: the kind's own, e.g. 10);
    # the primary metric is computed whatever is asked
    cutoffs: tuple[int, ...] | None = None
    # full-ranking kinds: the run's model fused with others by reciprocal rank (fusion.py: rrf:bm25)
    fuse: str | None = None
    # sequences: whether a user's history items are left out of the ranking ("excluded", our rule)
    # or ranked like any other item ("kept": the rule of RecBole's, UniSRec's and Recformer's code)
    seen_items: str = "excluded"
    # serving concurrency (scenarios.Serving): worker threads of the server and MultiStream
    # scenarios, and a dynamic batcher (at most max_batch queries, waiting up to max_wait_ms)
    server_workers: int = 1
    max_batch: int = 1
    max_wait_ms: float = 0.0
    # MLPerf's MultiStream: samples of this many queries issued at once (0: off), p99 of a sample
    multistream: int = 0
    # where the model evaluates (devices.py): cpu, cuda, cuda:N, mps
    device: str = "cpu"
    # the server and MultiStream scenarios driven by MLPerf's loadgen (loadgen.py; --server-mlperf)
    server_loadgen: bool = False


# settings added after records were written, with the value they had before: part of a cell's
# identity only when changed from it, so the cells recorded before them keep their keys
UNKEYED_WHEN_DEFAULT = {"threads": None, "index": "flat", "offline_batches": (1, 8, 32, 128), "offline_texts": 256,
                        "server_p99_ms": None, "server_seconds": 5.0, "server_min_queries": 0, "server_repeats": 1,
                        "rerank": None, "rerank_depth": 100, "max_queries": None, "cutoffs": None,
                        "fuse": None, "seen_items": "excluded", "server_workers": 1, "max_batch": 1,
                        "max_wait_ms": 0.0, "multistream": 0, "device": "cpu",
                        "server_loadgen": False}
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
    # full-ranking kinds: each query's top items and their scores (for --export trec; not recorded)
    ranked: tuple[np.ndarray, np.ndarray] | None = None
