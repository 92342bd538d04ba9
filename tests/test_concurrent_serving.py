"""Concurrent serving (issue 40): worker threads, a dynamic batcher and MLPerf's MultiStream,
checked on a synthetic constant-time model (a sleep, so the figures need no idle core): queueing
theory says what each must give, within wide margins for a busy machine."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from recbench.protocol.scenarios import Serving, multistream, poisson_arrivals, replay, server, single_stream
from recbench.protocol.settings import EvalSettings
from recbench.run.cells import Cell, CellError

SERVICE = 0.010  # seconds a query takes: one worker saturates at 100 queries/s


class Model:
    """A query takes SERVICE whoever serves it; a batch takes SERVICE whatever its size (a GPU's
    shape); it counts the queries in flight at once and the batch sizes it was sent."""

    def __init__(self) -> None:
        self.lock, self.flight, self.most, self.batches = threading.Lock(), 0, 0, []

    def _serve(self, n: int) -> None:
        with self.lock:
            self.flight += 1
            self.most = max(self.most, self.flight)
            self.batches.append(n)
        time.sleep(SERVICE)
        with self.lock:
            self.flight -= 1

    def query(self, i: int) -> None:
        self._serve(1)

    def batch(self, rows: list[int]) -> None:
        self._serve(len(rows))


def p99_ms(latencies: np.ndarray) -> float:
    assert np.isfinite(latencies).all()  # every query was served and timed
    return float(np.percentile(latencies * 1000, 99))


def test_four_workers_keep_up_with_a_rate_that_drowns_one():
    arrivals = poisson_arrivals(200.0, 1.5, seed=0)  # twice what one worker can serve
    one, four = Model(), Model()
    alone = p99_ms(replay(one.query, 50, arrivals))
    pool = p99_ms(replay(four.query, 50, arrivals, Serving(workers=4)))
    assert one.most == 1 and 2 <= four.most <= 4  # queries overlapped, never more than the workers
    assert alone > 200  # a queue that grows for 1.5 s
    assert pool < alone / 4 and pool < 100


def test_a_dynamic_batcher_serves_a_rate_no_single_query_path_could():
    arrivals = poisson_arrivals(400.0, 1.0, seed=1)  # four times one worker's rate
    model = Model()
    latencies = replay(model.query, 50, arrivals, Serving(workers=1, max_batch=16, max_wait_ms=2.0), model.batch)
    assert p99_ms(latencies) < 150 and max(model.batches) > 1 and max(model.batches) <= 16
    assert sum(model.batches) == len(arrivals)  # every query in exactly one batch


def test_without_a_batch_path_a_batch_is_served_query_by_query():
    model = Model()
    latencies = replay(model.query, 5, poisson_arrivals(50.0, 0.5, seed=2), Serving(workers=2, max_batch=4))
    assert set(model.batches) == {1} and np.isfinite(latencies).all()


def test_a_lone_query_under_a_batcher_takes_the_query_path_in_replay_and_multistream():
    """One rule (serve_rows) for every driver: a batch of two or more goes down the batch path,
    a lone query down single-stream's query path, so a quiet server times what single-stream does."""
    calls: list[tuple[str, int]] = []
    query = lambda i: calls.append(("query", 1))  # noqa: E731
    batch = lambda rows: calls.append(("batch", len(rows)))  # noqa: E731
    batcher = Serving(max_batch=4, max_wait_ms=1.0)
    replay(query, 5, np.array([0.0, 0.05, 0.10]), batcher, batch)  # 50 ms apart: each alone
    assert calls == [("query", 1)] * 3
    calls.clear()
    multistream(query, 12, per_sample=4, samples=2, serving=batcher, batch_query=batch)
    assert sum(n for _, n in calls) == 8 and all(kind == "batch" for kind, n in calls if n > 1)
    assert all(kind == "query" for kind, n in calls if n == 1)


def test_a_failing_query_stops_the_replay_and_is_raised():
    def broken(i: int) -> None:
        raise ValueError("bad query 3")

    with pytest.raises(ValueError, match="bad query 3"):
        replay(broken, 5, poisson_arrivals(100.0, 0.3, seed=0), Serving(workers=3))


def test_multistream_takes_a_samples_queries_together():
    serial, pooled, batched = Model(), Model(), Model()
    one = multistream(serial.query, 20, per_sample=4, samples=10)
    four = multistream(pooled.query, 20, per_sample=4, samples=10, serving=Serving(workers=4))
    batch = multistream(batched.query, 20, per_sample=4, samples=10, serving=Serving(max_batch=4), batch_query=batched.batch)
    assert one["scenario"] == "multistream" and one["queries_per_sample"] == 4 and one["samples"] == 10
    assert one["p50_ms"] >= 4 * SERVICE * 1000 * 0.95  # four queries one after another
    assert four["p50_ms"] < one["p50_ms"] / 2 and batch["p50_ms"] < one["p50_ms"] / 2
    assert set(batched.batches) == {4}
    # a sample waits for its tick (the run lasts 4 intervals at least) and its latency starts
    # there: counted from the run's start or the last completion it would be 190 ms or more
    began = time.perf_counter()
    ticked = multistream(Model().query, 20, per_sample=1, samples=5, interval_ms=200.0)
    assert time.perf_counter() - began >= 0.8
    assert ticked["p99_ms"] < 100  # a 10 ms query; wide margin for a busy machine


def test_the_server_search_with_workers_finds_more_than_one_worker_does():
    model = Model()
    single = single_stream(model.query, 10, warmup=0)
    one = server(model.query, 10, single, bound_ms=60.0, seconds=0.6, seed=0, steps=3)
    four = server(model.query, 10, single, bound_ms=60.0, seconds=0.6, seed=0, steps=3, serving=Serving(workers=4))
    assert four["serving"]["workers"] == 4 and "serving" not in one
    assert four["max_rate_qps"] > 1.5 * one["max_rate_qps"] > 0
    # each probe says how long serving alone took (its queueing left out): the model's 10 ms
    for probe in one["probes"] + four["probes"]:
        assert SERVICE * 1000 * 0.95 <= probe["service_p50_ms"] <= probe["service_p99_ms"] < probe["p99_ms"] + 1e-9


def test_concurrency_settings_are_checked_keyed_and_labelled():
    def resolve(**kw):
        return Cell.resolve("sif", "sts-b", settings=EvalSettings(**kw))

    plain = resolve()
    assert plain.key == resolve(server_workers=1, max_batch=1, max_wait_ms=0.0, multistream=0).key  # old keys stay
    workers = resolve(server_p99_ms=50.0, server_workers=4)
    assert workers.key != resolve(server_p99_ms=50.0).key
    for bad, message in [({"server_workers": 0, "server_p99_ms": 50.0}, "at least 1"),
                         ({"server_workers": 2}, "apply to the server scenario"),
                         ({"max_batch": 8, "max_wait_ms": 2.0}, "apply to the server scenario"),
                         ({"max_wait_ms": 2.0, "server_p99_ms": 50.0}, "with --max-batch above 1"),
                         ({"multistream": -1}, "not negative")]:
        with pytest.raises(CellError, match=message):
            resolve(**bad)
    assert resolve(multistream=8, server_workers=2).key != resolve(multistream=8).key
    from recbench.run.runner import serving_variant

    assert serving_variant(EvalSettings(server_p99_ms=50.0, server_workers=4, max_batch=8, max_wait_ms=2.0)) == {
        "workers": 4, "batch": "8/2ms"}
    # loadgen's figure of a row is a row of its own beside our replay's, never a repeat of it
    assert serving_variant(EvalSettings(server_p99_ms=50.0, server_loadgen=True)) == {"driver": "loadgen"}


def test_the_server_search_stops_at_its_floor_when_no_rate_passes():
    """A service slower than the bound fails at every rate: the search must not go on quartering
    the rate (each probe of min_queries queries lasting four times longer), but stop at its floor."""
    slow = lambda i: time.sleep(0.08)  # noqa: E731 (80 ms a query against a 50 ms bound)
    said = {"p99_ms": 10.0, "mean_ms": 10.0}  # a single-stream figure that lets the search start
    out = server(slow, 10, said, bound_ms=50.0, seconds=0.3, seed=0, steps=6)
    rates = [p["rate_qps"] for p in out["probes"]]
    assert out["max_rate_qps"] == 0.0 and "every rate probed" in out["note"]
    assert min(rates) >= 100.0 / 16 * 0.99 and len(rates) < 7  # stopped early, none under the floor
    if sys.platform != "win32":  # each probe and the whole search say how many pages were read back
        assert all(isinstance(p["major_faults"], int) and p["major_faults"] >= 0 for p in out["probes"])
        assert out["load"]["major_faults"] >= sum(p["major_faults"] for p in out["probes"])


@pytest.mark.parametrize("workers", [1, 3])
def test_a_failing_query_in_a_multistream_sample_is_raised_not_waited_for(workers):
    def query(i: int) -> None:
        if i == 5:
            raise ValueError("query 5 is broken")
        time.sleep(0.001)

    with pytest.raises(ValueError, match="query 5"):
        multistream(query, 20, per_sample=4, samples=5, serving=Serving(workers=workers))


def test_the_batchers_search_starts_without_counting_on_the_batch_and_climbs():
    """A CPU batch of 8 is not 8 times one query: starting at a quarter of 8x saturation drowned
    the server at the first probe. The search starts as if unbatched and bisects up from there."""
    model = Model()
    said = {"p99_ms": SERVICE * 1000, "mean_ms": SERVICE * 1000}
    out = server(model.query, 10, said, bound_ms=60.0, seconds=0.5, seed=0, steps=3,
                 serving=Serving(max_batch=8, max_wait_ms=2.0), batch_query=model.batch)
    rates = [p["rate_qps"] for p in out["probes"]]
    assert rates[0] == pytest.approx(25.0) and out["saturation_qps"] == pytest.approx(800.0)
    assert out["max_rate_qps"] > 100.0  # past one query at a time: the batch path carried it
