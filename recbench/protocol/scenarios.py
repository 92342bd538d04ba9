"""Latency scenarios as MLPerf Inference's load generator defines them, each with a record of
how busy the machine was while it ran.

- *single-stream*: one query at a time, the next issued when the last completes; p50, p90
  (MLPerf's figure), p95, p99 per query.
- *offline*: all texts at once; throughput (texts/s) of the encoder at batch sizes 1, 8, 32, 128.
- *server*: queries arrive as a seeded Poisson process at a target rate for a fixed time and
  are served one at a time in arrival order; a query's latency counts its wait in the queue.
  The figure is the largest rate whose p99 stays under a bound (e.g. 50 ms), found by
  bisection between a rate that passes and the rate the single-stream mean says saturates.

Another process on the cores skews every figure, so each timing keeps the 1-minute load
average before and after and, more directly, the CPU that *other* processes used while it
ran (from /proc/stat less this process's own time), in cores, where the timing lasted at least
a second; the runner keeps the same watch around the cell's whole evaluation. A timing during
which others used more than ``BUSY_CORES`` of the cores it could have used is flagged busy,
and the leaderboard marks the row. A cell pinned to N threads (``--threads``) could use only N
cores: the machine's other cores are spare, and others' use of them (a neighbouring cell of a
packed grid, say) is recorded but does not flag it.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from recbench.protocol.serving_pool import Serving, ServingPool, serve_rows
from recbench.protocol.stages import collect

BUSY_CORES = 0.25  # other processes' mean CPU use (in cores) above which a timing is flagged busy
OFFLINE_BATCHES = (1, 8, 32, 128)
# the server search goes no lower than one worker's saturating rate over this: there it is idle
# ~94% of the time and a probe of min_queries queries already lasts 16x as long as at saturation
FLOOR_DIVISOR = 16.0
MIN_WINDOW = 1.0  # seconds: the shortest window over which other processes' CPU use is measured


def _cpu_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds over all CPUs since boot (psutil: /proc/stat on Linux, the
    system's own counters elsewhere); None where the platform gives none."""
    try:
        import psutil

        t = psutil.cpu_times()
    except (ImportError, OSError, RuntimeError, NotImplementedError):
        return None
    total = sum(float(v) for v in t)
    if hasattr(t, "guest"):  # Linux counts guest time inside user time too
        total -= float(t.guest) + float(getattr(t, "guest_nice", 0.0))
    return total - float(t.idle) - float(getattr(t, "iowait", 0.0)), total


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _loadavg() -> float | None:
    """The one-minute load average (psutil emulates it on Windows)."""
    try:
        import psutil

        return float(psutil.getloadavg()[0])
    except (ImportError, OSError, AttributeError, RuntimeError):
        return None


def major_faults() -> int | None:
    """This process's major page faults so far: pages the kernel had dropped (a model's mapped
    weights, a library's code) read back from disk on touch, a stall no CPU figure shows. A VM
    whose host reclaims idle pages makes a lightly loaded server slower than a busy one; the count
    says so. None where the platform keeps none (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_majflt)


@contextmanager
def load_watch() -> Iterator[dict[str, Any]]:
    """Yields a dict filled, on exit, with the load average before and after and the CPU other
    processes used meanwhile (``other_cpu_cores``; None where /proc/stat is missing)."""
    info: dict[str, Any] = {"loadavg_before": _loadavg()}
    cpu0, own0, wall0, faults0 = _cpu_seconds(), _own_cpu_seconds(), time.perf_counter(), major_faults()
    try:
        yield info
    finally:
        cpu1, own1, wall = _cpu_seconds(), _own_cpu_seconds(), time.perf_counter() - wall0
        info["loadavg_after"] = _loadavg()
        faults1 = major_faults()
        if faults0 is not None and faults1 is not None:
            info["major_faults"] = faults1 - faults0
        other = None
        # /proc/stat counts in clock ticks (10 ms): over a window shorter than MIN_WINDOW the
        # figure would be the rounding of a few ticks, so none is given (the cell's own watch,
        # around its whole evaluation, still says whether the machine was busy)
        if cpu0 is not None and cpu1 is not None and wall >= MIN_WINDOW:
            other = max(0.0, (cpu1[0] - cpu0[0]) - (own1 - own0)) / wall
        info["other_cpu_cores"] = None if other is None else round(other, 3)
        spare = spare_cores()
        if spare:
            info["spare_cores"] = spare
        info["busy"] = bool(other is not None and other > BUSY_CORES + spare)


def spare_cores() -> int:
    """Cores this process cannot use: the machine's beyond its pinned thread count (0 unpinned)."""
    from recbench.protocol.timing import pinned_threads

    pinned = pinned_threads()
    return max(0, (os.cpu_count() or 1) - pinned) if pinned else 0


PERCENTILES = (50, 90, 95, 99)
STAGE_FIGURES = ("p50_ms", "p99_ms", "mean_ms")


def percentiles_ms(seconds: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """p50/p90/p95/p99 and the mean in ms, each percentile with its exact, distribution-free 95%
    interval from the order statistics (``scipy.stats.quantile_test``; ``p50_ms_ci``: [low, high]).
    A p99 of 200 queries rests on its two slowest: no sample of that size bounds it from above, and
    its interval's upper end is then None rather than a bootstrap's number that looks like one.
    ``n_boot`` 0: no intervals (a stage's figures); ``seed`` is kept for callers, the interval needs none."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    out: dict[str, Any] = {f"p{q}_ms": float(np.percentile(ms, q)) for q in PERCENTILES}
    out["mean_ms"] = float(ms.mean())
    if len(ms) >= 2 and n_boot > 0:
        from scipy.stats import quantile_test  # imported on use: scipy at import time slows every start

        for q in PERCENTILES:
            interval = quantile_test(ms, q=out[f"p{q}_ms"], p=q / 100).confidence_interval(confidence_level=0.95)
            out[f"p{q}_ms_ci"] = [float(end) if np.isfinite(end) else None for end in (interval.low, interval.high)]
    return out


def single_stream(query: Callable[[int], object], n_queries: int, warmup: int = 5) -> dict[str, Any]:
    """Calls ``query(i)`` for i in range(n_queries) one at a time after ``warmup`` untimed calls."""
    for i in range(min(warmup, n_queries)):
        query(i)
    times = np.empty(n_queries, dtype=np.float64)
    per_stage: dict[str, np.ndarray] = {}
    with load_watch() as load:
        for i in range(n_queries):
            with collect() as stages:
                t0 = time.perf_counter()
                query(i)
                times[i] = time.perf_counter() - t0
            for name, seconds in stages.items():
                per_stage.setdefault(name, np.zeros(n_queries))[i] = seconds
    out = {"scenario": "single-stream", "queries": int(n_queries), **percentiles_ms(times), "load": load}
    if per_stage:  # the serving path marked its stages (stages.py): each with its own percentiles
        out["stages"] = {name: {k: v for k, v in percentiles_ms(s, n_boot=0).items() if k in STAGE_FIGURES}
                         for name, s in per_stage.items()}
    return out


def inherit_cell_load(timing: dict[str, Any], cell_load: dict[str, Any]) -> None:
    """A timing too short for its own watch (under ``MIN_WINDOW``: a fast model's single-stream
    run) takes the cell's: the CPU others used over the cell's whole evaluation, which contains
    it. The entry says so (``measured_over: cell``), so no timing is left unwatched."""
    for name in ("latency", "offline", "server"):
        load = (timing.get(name) or {}).get("load")
        if load is not None and load.get("other_cpu_cores") is None and cell_load.get("other_cpu_cores") is not None:
            load.update({"other_cpu_cores": cell_load["other_cpu_cores"], "busy": bool(cell_load.get("busy")),
                         "measured_over": "cell"})


def offline(encode: Callable[[list[str], int], object], texts: Sequence[str],
            batch_sizes: Sequence[int] = OFFLINE_BATCHES) -> dict[str, Any]:
    """Throughput of encoding the same texts at each batch size (after one warm-up batch)."""
    texts = list(texts)
    out: dict[str, Any] = {"scenario": "offline", "texts": len(texts), "texts_per_second": {}}
    with load_watch() as load:
        for b in batch_sizes:
            encode(texts[:b], b)
            t0 = time.perf_counter()
            encode(texts, b)
            seconds = time.perf_counter() - t0
            out["texts_per_second"][str(b)] = len(texts) / seconds if seconds > 0 else float("inf")
    out["load"] = load
    return out


def poisson_arrivals(rate: float, seconds: float, seed: int) -> np.ndarray:
    """Arrival times (s) of a Poisson process at ``rate`` queries/s over ``seconds`` (at least 1)."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / rate, size=int(rate * seconds * 1.5) + 16)
    t = np.cumsum(gaps)
    return t[t < seconds] if (t < seconds).any() else t[:1]


def replay(query: Callable[[int], object], n_available: int, arrivals: np.ndarray,
           serving: Serving = Serving(), batch_query: Callable[[list[int]], object] | None = None,
           service: list[float] | None = None) -> np.ndarray:
    """Serves queries arriving at ``arrivals`` in real time, in arrival order; returns each
    query's latency (completion less arrival, so queueing counts). One worker and no batching:
    one query at a time on this thread. Otherwise ``serving.workers`` threads take the queue,
    each a batch at a time, served by ``serve_rows`` as MultiStream and loadgen serve theirs
    (``batch_query`` takes a batch of two or more in one call; a lone query, or any batch of a
    kind without one, goes down single-stream's query path). ``service``, given, gets the seconds each query (or batch)
    took to serve, its wait left out: set beside single-stream's figure it shows a machine that
    serves a lone query slower than back-to-back ones (cores idling down between arrivals)."""
    if serving.workers == 1 and serving.max_batch == 1:
        latencies = np.empty(len(arrivals), dtype=np.float64)
        start = time.perf_counter()
        for j, arrival in enumerate(arrivals):
            wait = arrival - (time.perf_counter() - start)
            if wait > 0:
                time.sleep(wait)
            began = time.perf_counter()
            query(j % n_available)
            ended = time.perf_counter()
            latencies[j] = (ended - start) - arrival
            if service is not None:
                service.append(ended - began)
        return latencies
    return _concurrent_replay(query, n_available, arrivals, serving, batch_query, service)


def _concurrent_replay(query: Callable[[int], object], n_available: int, arrivals: np.ndarray, serving: Serving,
                       batch_query: Callable[[list[int]], object] | None,
                       service: list[float] | None = None) -> np.ndarray:
    latencies = np.full(len(arrivals), np.nan, dtype=np.float64)
    start = time.perf_counter()

    serve_batch = serve_rows(query, batch_query)

    def serve(batch: list[int]) -> None:
        began = time.perf_counter()
        try:
            serve_batch([j % n_available for j in batch])
        finally:
            if service is not None:
                service.append(time.perf_counter() - began)  # list.append holds the GIL: safe across workers

    def done(batch: list[int]) -> None:
        now = time.perf_counter() - start
        for j in batch:
            latencies[j] = now - arrivals[j]

    pool = ServingPool(serve, serving, done)
    for j, arrival in enumerate(arrivals):
        wait = arrival - (time.perf_counter() - start)
        if wait > 0:
            time.sleep(wait)
        if pool.failure:
            break
        pool.put(j)
    pool.close()
    return latencies


def multistream(query: Callable[[int], object], n_available: int, per_sample: int, samples: int,
                serving: Serving = Serving(), batch_query: Callable[[list[int]], object] | None = None,
                interval_ms: float | None = None) -> dict[str, Any]:
    """MLPerf's MultiStream: a sample of ``per_sample`` queries issued at once (a page of
    recommendations, a feed's slots), the next when the last has completed or, with
    ``interval_ms``, at the next tick of that interval; a sample's latency is from its issue to
    its last query's completion, and the figure is its p99 over ``samples`` samples. The
    sample's queries are served by the same worker pool as the server scenario's
    (``serving.workers`` threads; with ``serving.max_batch`` > 1 its batcher hands a batch of the
    sample's queries to the batch function in one call)."""
    times = np.empty(samples, dtype=np.float64)

    pool = ServingPool(serve_rows(query, batch_query), serving, lambda batch: None)
    try:
        with load_watch() as load:
            start = time.perf_counter()
            for k in range(samples):
                if interval_ms:
                    wait = k * interval_ms / 1000.0 - (time.perf_counter() - start)
                    if wait > 0:
                        time.sleep(wait)
                issued = time.perf_counter()
                pool.put_many([(k * per_sample + q) % n_available for q in range(per_sample)])
                pool.drain()
                times[k] = time.perf_counter() - issued
    finally:
        pool.close()
    return {"scenario": "multistream", "queries_per_sample": int(per_sample), "samples": int(samples),
            "interval_ms": interval_ms, "serving": serving.describe(), **percentiles_ms(times), "load": load}


def probe_seconds(rate: float, seconds: float, min_queries: int) -> float:
    """A probe lasts at least ``seconds`` and long enough for ``min_queries`` arrivals."""
    return max(seconds, min_queries / rate) if rate > 0 else seconds


def server(query: Callable[[int], object], n_available: int, single: dict[str, Any], bound_ms: float,
           seconds: float, seed: int, steps: int = 6, min_queries: int = 0, repeats: int = 1,
           serving: Serving = Serving(), batch_query: Callable[[list[int]], object] | None = None,
           driver: str = "recbench") -> dict[str, Any]:
    """The largest Poisson arrival rate whose p99 latency stays within ``bound_ms`` in each of
    ``repeats`` probes.

    Single-stream figures bound the search: a p99 already above the bound means no rate
    passes (0); the mean service time gives the saturating rate 1/mean. Each probe runs for at
    least ``seconds`` of real time and ``min_queries`` queries (MLPerf's server minimum: 600 s
    and 270,336 queries) at one rate with its own seeded arrivals; a rate passes only if every
    one of its ``repeats`` probes does, so a rate near saturation that passes once by luck is not
    reported. ``steps`` bisections on a log scale follow a probe at a quarter of saturation
    (without the batcher's factor); while nothing has passed the rate falls fourfold, but not below
    1/``FLOOR_DIVISOR`` of one worker's saturating rate (then the answer is 0 with a note: the
    bound fails where queries hardly overlap).
    With ``serving`` (workers, dynamic batching) the saturating rate the search starts from is the
    single-stream one times the workers times the batch (an upper bound: the cores are shared).
    ``driver`` "loadgen": each probe is MLPerf's loadgen Server scenario at that rate
    (``loadgen.py``; its own arrival schedule, minimums and early-stopping verdict, recorded
    per probe); the search is the same."""
    out: dict[str, Any] = {"scenario": "server", "p99_bound_ms": bound_ms, "seconds_per_rate": seconds,
                           "min_queries_per_probe": int(min_queries), "repeats": int(repeats), "probes": []}
    if driver == "loadgen":
        from recbench.protocol.loadgen import loadgen_probe

        out["driver"] = "mlperf loadgen"

    def probe(rate: float, probe_seed: int) -> dict[str, Any]:
        duration = probe_seconds(rate, seconds, min_queries)
        if driver == "loadgen":
            return loadgen_probe(query, n_available, rate, bound_ms, duration, min_queries, serving, batch_query,
                                 probe_seed)
        faults, service = major_faults(), []
        lat = replay(query, n_available, poisson_arrivals(rate, duration, probe_seed), serving, batch_query, service)
        out = {"queries": int(len(lat)), "p99_ms": float(np.percentile(lat * 1000.0, 99))}
        if service:  # the serving alone, queueing left out (a batch counts once)
            out["service_p50_ms"] = float(np.percentile(np.asarray(service) * 1000.0, 50))
            out["service_p99_ms"] = float(np.percentile(np.asarray(service) * 1000.0, 99))
        if faults is not None:
            out["major_faults"] = major_faults() - faults
        return out

    if serving != Serving():
        out["serving"] = serving.describe()
    if single.get("p99_ms", float("inf")) > bound_ms:
        out.update({"max_rate_qps": 0.0, "note": "single-stream p99 already exceeds the bound"})
        return out
    one_at_a_time = 1000.0 / max(single["mean_ms"], 1e-3)  # one worker serving a query at a time
    saturate = one_at_a_time * serving.workers * serving.max_batch  # an upper bound: the cores are shared
    good, bad = None, saturate
    # a batch of B costs more than one query on a CPU: the search starts where batching is not
    # counted on, and bisects up towards the bound if that passes
    rate = 0.25 * one_at_a_time * serving.workers
    floor = one_at_a_time / FLOOR_DIVISOR  # the floor is one worker's, whatever the pool
    with load_watch() as load:
        for step in range(steps + 1):
            if good is None and rate < floor * 0.999:
                # queries almost never overlap down here: a p99 still past the bound is the
                # service's own tail, and each slower probe would only take longer (min_queries/rate)
                out["note"] = (f"p99 above the bound at every rate probed, down to {bad:.3g} queries/s "
                               f"(1/{FLOOR_DIVISOR:g} of one worker's saturating rate)")
                break
            passed = True
            for r in range(max(1, repeats)):
                measured = probe(rate, seed + step + 1000 * r)
                out["probes"].append({"rate_qps": round(rate, 3), "repeat": r, **measured})
                if measured["p99_ms"] > bound_ms:
                    passed = False
                    break  # one failing probe fails the rate
            if passed:
                good = rate
            else:
                bad = rate
            if good is None:  # even a quarter of saturation fails: go lower
                rate = rate / 4.0
            else:
                rate = float(np.sqrt(good * bad))
    out["max_rate_qps"] = float(good or 0.0)
    out["saturation_qps"] = saturate
    out["load"] = load
    return out


def measure_latency(query_at: Callable[[int], object], n_total: int, settings: Any,
                    batch_at: Callable[[list[int]], object] | None = None) -> dict[str, Any]:
    """The per-query scenarios of a task: single-stream over ``settings.latency_queries``
    queries spread evenly over the task and, when ``settings.server_p99_ms`` is set, the
    server scenario over the same queries (``settings.multistream``: MultiStream too), served
    as ``settings`` says (workers, dynamic batching). ``batch_at(rows)`` serves several queries
    in one call where the kind can (an encoder encodes them as one batch); without it a batch is
    served query by query, and the record says so. Returns the timing entries to add."""
    nq = min(settings.latency_queries, n_total)
    if not nq:
        return {"latency": {}}
    picks = np.linspace(0, n_total - 1, nq).astype(int)
    from recbench.protocol.devices import synchronizer

    sync = synchronizer(str(getattr(settings, "device", "cpu")))

    def query(i: int) -> object:
        out = query_at(int(picks[i % nq]))
        if sync is not None:  # a query on an accelerator ends when its kernels have
            sync()
        return out

    def batch_of(rows: list[int]) -> object:
        out = batch_at([int(picks[i % nq]) for i in rows])
        if sync is not None:
            sync()
        return out

    batch = batch_of if batch_at is not None else None
    serving = Serving(int(getattr(settings, "server_workers", 1)), int(getattr(settings, "max_batch", 1)),
                      float(getattr(settings, "max_wait_ms", 0.0)))
    out: dict[str, Any] = {"latency": single_stream(query, nq)}
    if settings.server_p99_ms:
        out["server"] = server(query, nq, out["latency"], float(settings.server_p99_ms),
                               float(settings.server_seconds), settings.seed,
                               min_queries=int(settings.server_min_queries), repeats=int(settings.server_repeats),
                               serving=serving, batch_query=batch,
                               driver="loadgen" if getattr(settings, "server_loadgen", False) else "recbench")
        if serving.max_batch > 1:
            out["server"]["batched_by"] = "the kind's batch path" if batch is not None else "query by query (no batch path)"
    if getattr(settings, "multistream", 0) and getattr(settings, "server_loadgen", False):
        from recbench.protocol.loadgen import loadgen_multistream

        out["multistream"] = loadgen_multistream(query, nq, int(settings.multistream), nq, serving, batch)
    elif getattr(settings, "multistream", 0):
        out["multistream"] = multistream(query, nq, int(settings.multistream), nq, serving, batch)
    if "multistream" in out:
        out["multistream"]["batched_by"] = ("the kind's batch path" if batch is not None and serving.max_batch > 1
                                            else "query by query")
    return out
