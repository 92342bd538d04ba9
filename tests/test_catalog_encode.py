"""The sharded encode: catalogs of several datasets encoded once over a pool of workers, the
same vectors with 1 or 2 workers, written where the evaluation finds them."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.protocol.cache import EmbeddingCache
from recbench.run.catalog_encode import encode_catalogs, shard
from recbench.run.cells import Cell
from recbench.protocol.settings import EvalSettings
from recbench.run.runner import run_cell

pytestmark = pytest.mark.integration  # model weights, training or a process per cell


FAST = EvalSettings(n_bootstrap=30, latency_queries=3, offline_texts=0, progress=False)


def cells(model, datasets):
    return [Cell.resolve(model, d, settings=FAST) for d in datasets]


def test_shards_cover_the_texts_in_order_and_a_bad_size_is_refused():
    parts = shard([str(i) for i in range(10)], 4)
    assert [len(p) for p in parts] == [4, 4, 2] and sum(parts, []) == [str(i) for i in range(10)]
    with pytest.raises(ValueError, match="--shard-size must be at least 1"):
        shard(["a"], 0)


@pytest.mark.usefixtures("real_data", "local_ray")
def test_one_and_two_ray_workers_give_identical_vectors_that_the_evaluation_then_reads(tmp_path):
    grid = cells("glove-avg", ["ml100k", "ml100k-mix", "amazon-scientific"])
    one = encode_catalogs(grid, workers=1, executor="ray", shard_size=500, cache=EmbeddingCache(tmp_path / "a"))
    two = encode_catalogs(grid, workers=2, executor="ray", shard_size=500, cache=EmbeddingCache(tmp_path / "b"))
    here = encode_catalogs(grid, shard_size=500, cache=EmbeddingCache(tmp_path / "c"))
    assert one.texts == two.texts == here.texts and one.shards == two.shards > 2
    assert np.array_equal(one.vectors, two.vectors) and np.array_equal(one.vectors, here.vectors)
    sizes = [c["items"] for c in one.catalogs]
    assert one.distinct_texts < sum(sizes)  # ml100k's movies are in both of its datasets: encoded once
    again = encode_catalogs(grid, workers=2, executor="ray", cache=EmbeddingCache(tmp_path / "b"))
    assert again.distinct_texts == 0 and all(c.get("already") for c in again.catalogs)

    cached = EvalSettings(n_bootstrap=30, latency_queries=3, offline_texts=0, progress=False,
                          cache_dir=str(tmp_path / "b" ))
    fresh = EvalSettings(n_bootstrap=30, latency_queries=3, offline_texts=0, progress=False, use_cache=False)
    for dataset in ("ml100k", "ml100k-mix"):
        hit = run_cell("glove-avg", dataset, settings=cached, results_dir=None).record
        new = run_cell("glove-avg", dataset, settings=fresh, results_dir=None).record
        assert hit["timing"]["embedding_cache_hit"] is True and new["timing"]["embedding_cache_hit"] is False
        assert hit["metrics"] == new["metrics"]


@pytest.mark.usefixtures("real_data")
def test_models_without_catalog_vectors_are_refused(tmp_path):
    with pytest.raises(ValueError, match="fits its statistics on each catalog"):
        encode_catalogs(cells("sif", ["ml100k"]), cache=EmbeddingCache(tmp_path))
    with pytest.raises(ValueError, match="not a text encoder"):
        encode_catalogs(cells("popularity", ["ml100k"]), cache=EmbeddingCache(tmp_path))
    with pytest.raises(ValueError, match="one worker; --executor ray for more"):
        encode_catalogs(cells("glove-avg", ["ml100k"]), workers=2, cache=EmbeddingCache(tmp_path))


class DriverOnlyEncoder:
    """A model registered in the driver only (not an installed entry point): the workers, fresh
    processes, cannot build it."""

    name = "driver-only"
    params: dict = {}

    def __init__(self, arg=None):
        pass

    def encode(self, texts, batch_size=32):
        return np.ones((len(texts), 4), dtype=np.float32)


@pytest.mark.usefixtures("real_data", "local_ray")
def test_a_worker_that_cannot_build_the_model_is_one_clear_error(tmp_path):
    from recbench.protocol.registry import baselines

    baselines.add("driver-only", DriverOnlyEncoder)
    try:
        with pytest.raises(RuntimeError) as failed:
            encode_catalogs(cells("driver-only", ["ml100k"]), workers=1, executor="ray", cache=EmbeddingCache(tmp_path))
    finally:
        baselines._entries.pop("driver-only", None)
    message = str(failed.value)
    assert message.startswith("encoding shard 1 of 1 failed on a Ray worker") and "unknown model 'driver-only'" in message
    assert "\n" not in message
    with pytest.raises(ValueError, match="--workers must be at least 1"):
        encode_catalogs(cells("glove-avg", ["ml100k"]), workers=0, executor="ray", cache=EmbeddingCache(tmp_path))
