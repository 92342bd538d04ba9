"""Encodes the item catalogs of several datasets ahead of evaluation, in shards over a pool of
workers (Ray actors, or this process), into the embedding cache that `recbench run` reads.

The distinct texts of every catalog are taken together (an item shared by two datasets is
encoded once), cut into fixed-size shards in a fixed order, and each shard is encoded whole
by one worker on a fixed thread count. A shard's vectors therefore do not depend on how many
workers there are or which one took it: 1 and N workers give the same bits. The driver then
writes one cache entry per catalog, keyed as the evaluation keys it (model identity + the
catalog's texts in the protocol's order), so the cells that follow find every item cached.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from recbench.protocol.cache import EmbeddingCache
from recbench.protocol.capabilities import CorpusFitted, Encoder
from recbench.run.cells import Cell
from recbench.protocol.data import DataLocator
from recbench.protocol.encoding import encode_checked
from recbench.protocol.kinds.base import get_kind
from recbench.run.grid import EXECUTORS
from recbench.protocol.progress import bar_disabled


@dataclass
class Catalog:
    dataset: str
    kind: str
    texts: list[str]


@dataclass
class EncodeReport:
    model: str
    workers: int
    shards: int
    distinct_texts: int
    encode_seconds: float
    catalogs: list[dict[str, Any]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list, repr=False)  # the distinct texts, in shard order
    vectors: np.ndarray | None = field(default=None, repr=False)  # their vectors, row for row

    def summary(self) -> dict[str, Any]:
        return {"model": self.model, "workers": self.workers, "shards": self.shards,
                "distinct_texts": self.distinct_texts, "encode_seconds": round(self.encode_seconds, 2),
                "texts_per_second": round(self.texts_per_second, 1), "catalogs": self.catalogs}

    @property
    def texts_per_second(self) -> float:
        return self.distinct_texts / self.encode_seconds if self.encode_seconds > 0 else float("inf")


def catalogs_of(cells: Sequence[Cell], locator: DataLocator) -> list[Catalog]:
    """Each cell's catalog texts, exactly as its kind's protocol would encode them; kinds that
    cache no item vectors (pairs) are left out."""
    out = []
    for cell in cells:
        catalog_texts = get_kind(cell.kind).catalog_texts
        if catalog_texts is None:
            continue
        task = cell.build_dataset(locator).load(cell.split)
        out.append(Catalog(cell.dataset_label, cell.kind, catalog_texts(task, cell.settings)))
    return out


def check_encodable(model: Any, name: str) -> None:
    if not isinstance(model, Encoder):
        raise ValueError(f"model {name!r} is not a text encoder; there are no item vectors to encode ahead")
    if isinstance(model, CorpusFitted):
        raise ValueError(f"model {name!r} fits its statistics on each catalog's own texts, so its vectors depend "
                         "on the catalog; it is encoded per cell by `recbench run` (and is fast)")


def shard(texts: Sequence[str], size: int) -> list[list[str]]:
    if size < 1:
        raise ValueError(f"--shard-size must be at least 1, got {size}")
    return [list(texts[i:i + size]) for i in range(0, len(texts), size)]


class ShardEncoder:
    """One worker: builds the model once, then encodes shards on a fixed thread count."""

    def __init__(self, cell: Cell, threads: int | None) -> None:
        from recbench.protocol.timing import pin_threads

        pin_threads(threads)
        self.model = cell.build_model()
        self.batch_size = cell.settings.batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_checked(self.model, texts, self.batch_size)


def encode_shards_here(cell: Cell, shards: list[list[str]], threads: int | None,
                       on_shard: Callable[[int], None] | None = None) -> list[np.ndarray]:
    worker = ShardEncoder(cell, threads)
    out = []
    for s in shards:
        out.append(worker.encode(s))
        if on_shard:
            on_shard(len(s))
    return out


def encode_shards_on_ray(cell: Cell, shards: list[list[str]], workers: int, threads: int, address: str | None,
                         on_shard: Callable[[int], None] | None = None) -> list[np.ndarray]:
    """A pool of ``workers`` actors, each declaring ``threads`` CPUs; shards handed out as
    workers free up, results put back in shard order."""
    from recbench.run.ray_executor import connect

    ray = connect(address)
    actor = ray.remote(num_cpus=threads)(ShardEncoder)
    pool = [actor.remote(cell, threads) for _ in range(workers)]
    out: list[np.ndarray | None] = [None] * len(shards)
    pending: dict[Any, tuple[int, Any]] = {}
    queue = list(range(len(shards)))
    try:
        for a in pool:
            if queue:
                i = queue.pop(0)
                pending[a.encode.remote(shards[i])] = (i, a)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            i, a = pending.pop(ref)
            try:
                out[i] = ray.get(ref)
            except ray.exceptions.RayError as exc:  # a worker died, or the model failed (NaN vectors, ...)
                cause = getattr(exc, "cause", None) or exc
                raise RuntimeError(f"encoding shard {i + 1} of {len(shards)} failed on a Ray worker: "
                                   f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1]}") from None
            if on_shard:
                on_shard(len(shards[i]))
            if queue:
                j = queue.pop(0)
                pending[a.encode.remote(shards[j])] = (j, a)
    finally:
        for a in pool:
            ray.kill(a)
    return out  # type: ignore[return-value]


def encode_catalogs(cells: Sequence[Cell], locator: DataLocator | None = None, workers: int = 1,
                    executor: str = "local", address: str | None = None, threads: int | None = None,
                    shard_size: int = 2048, cache: EmbeddingCache | None = None, overwrite: bool = False,
                    progress: bool = False) -> EncodeReport:
    """Encodes the distinct texts of every cell's catalog once, in shards, and writes each
    catalog's entry into the embedding cache (entries present already are kept unless
    ``overwrite``). All cells must name one model. ``threads``: per worker; on Ray 1 unless
    given, in this process the libraries' own default unless given."""
    from tqdm.auto import tqdm

    if not cells:
        raise ValueError("no dataset to encode")
    if len({(c.model, tuple(sorted(c.model_options.items()))) for c in cells}) != 1:
        raise ValueError("the sharded encode takes one model (with its options) at a time")
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if executor == "local" and workers != 1:
        raise ValueError("the local executor encodes with one worker; --executor ray for more")
    locator = locator or DataLocator()
    cache = cache or EmbeddingCache()
    model = cells[0].build_model()
    check_encodable(model, cells[0].model)
    catalogs = catalogs_of(cells, locator)
    todo = [c for c in catalogs if overwrite or cache.get(model, c.texts) is None]
    distinct = list(dict.fromkeys(t for c in todo for t in c.texts))
    shards = shard(distinct, shard_size)
    bar = tqdm(total=len(distinct), desc=f"encode {cells[0].model} x{workers}", unit="text", disable=bar_disabled(progress))
    started = time.perf_counter()
    if not shards:  # every catalog cached already: no worker to start
        parts = []
    elif executor == "ray":
        parts = encode_shards_on_ray(cells[0], shards, workers, threads or 1, address, bar.update)
    else:
        parts = encode_shards_here(cells[0], shards, threads, bar.update)
    seconds = time.perf_counter() - started
    bar.close()
    table = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    row = {t: i for i, t in enumerate(distinct)}
    report = EncodeReport(cells[0].model, workers, len(shards), len(distinct), seconds, texts=distinct, vectors=table)
    encoded = {id(c) for c in todo}
    for c in catalogs:
        if id(c) in encoded:
            path = cache.put(model, c.texts, table[[row[t] for t in c.texts]])
            report.catalogs.append({"dataset": c.dataset, "kind": c.kind, "items": len(c.texts), "cached": str(path)})
        else:
            report.catalogs.append({"dataset": c.dataset, "kind": c.kind, "items": len(c.texts),
                                    "cached": str(cache.path(model, c.texts)), "already": True})
    return report
