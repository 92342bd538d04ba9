"""MLPerf's own load generator (the ``mlcommons-loadgen`` package, the ``mlperf`` extra) behind the
server and MultiStream scenarios (``--server-mlperf``): loadgen schedules the queries, times them
and judges the run by MLPerf's rules (minimum duration and query count, early stopping); our
worker pool (``scenarios.ServingPool``: threads, dynamic batching) serves them. Our own scenarios
stay the everyday default; ``tests/test_loadgen.py`` holds the two to within 10% of each other on
a constant-time model."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any, Callable

from recbench.protocol.serving_pool import Serving, ServingPool, serve_rows


def require_loadgen() -> Any:
    try:
        import mlperf_loadgen
    except ImportError:
        raise RuntimeError("--server-mlperf drives the scenarios with MLPerf's loadgen: "
                           "pip install -e '.[mlperf]' (the mlcommons-loadgen package)") from None
    return mlperf_loadgen


def summary_figures(text: str) -> dict[str, Any]:
    """What a ``mlperf_log_summary.txt`` says: the verdict, its parts, and the latency percentiles."""
    def grab(pattern: str) -> str | None:
        m = re.search(pattern, text)
        return m.group(1).strip() if m else None

    out: dict[str, Any] = {"result": grab(r"Result is\s*:\s*(\S+)"),
                           "constraints_satisfied": grab(r"Performance constraints satisfied\s*:\s*(\S+)"),
                           "min_duration_satisfied": grab(r"Min duration satisfied\s*:\s*(\S+)"),
                           "min_queries_satisfied": grab(r"Min queries satisfied\s*:\s*(\S+)"),
                           "early_stopping_satisfied": grab(r"Early stopping satisfied\s*:\s*(\S+)"),
                           "completed_qps": None}
    qps = grab(r"Completed samples per second\s*:\s*([0-9.]+)")
    out["completed_qps"] = float(qps) if qps else None
    for q in ("50.00", "90.00", "99.00"):
        ns = grab(rf"{q} percentile latency \(ns\)\s*:\s*([0-9]+)")
        out[f"p{q.split('.')[0]}_ms"] = int(ns) / 1e6 if ns else None
    return out


def _run(lg: Any, settings: Any, serve: Callable[[list[Any]], object], serving: Serving, n_available: int) -> dict[str, Any]:
    pool = ServingPool(serve, serving,
                       lambda batch: lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in batch]))

    def issue(samples: list[Any]) -> None:
        for sample in samples:
            pool.put(sample)

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(n_available, n_available, lambda rows: None, lambda rows: None)
    with tempfile.TemporaryDirectory(prefix="recbench-loadgen-") as out:
        log = lg.LogSettings()
        log.log_output.outdir = out
        log.log_output.copy_summary_to_stdout = False
        log.enable_trace = False
        try:
            lg.StartTestWithLogSettings(sut, qsl, settings, log)
        finally:
            pool.close()
            lg.DestroyQSL(qsl)
            lg.DestroySUT(sut)
        return summary_figures((Path(out) / "mlperf_log_summary.txt").read_text(encoding="utf-8"))


def _serve(query: Callable[[int], object], batch_query: Callable[[list[int]], object] | None) -> Callable[[list[Any]], None]:
    serve = serve_rows(query, batch_query)
    return lambda batch: serve([int(s.index) for s in batch])


def loadgen_probe(query: Callable[[int], object], n_available: int, rate: float, bound_ms: float, seconds: float,
                  min_queries: int, serving: Serving, batch_query: Callable[[list[int]], object] | None,
                  seed: int) -> dict[str, Any]:
    """One rate of the server search, as loadgen's Server scenario runs it: its queries, its p99
    and its verdict (``p99_ms`` is what the search judges against the bound)."""
    lg = require_loadgen()
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.Server
    settings.mode = lg.TestMode.PerformanceOnly
    settings.server_target_qps = float(rate)
    settings.server_target_latency_ns = int(bound_ms * 1e6)
    settings.min_duration_ms = int(seconds * 1000)
    settings.max_duration_ms = int(seconds * 1000 * 3) + 1000
    settings.min_query_count = max(1, int(min_queries))
    settings.schedule_rng_seed = settings.sample_index_rng_seed = settings.qsl_rng_seed = int(seed)
    figures = _run(lg, settings, _serve(query, batch_query), serving, n_available)
    queries = int(round((figures["completed_qps"] or 0.0) * seconds))
    return {"queries": queries, "p99_ms": figures["p99_ms"] if figures["p99_ms"] is not None else float("inf"),
            "loadgen": {k: v for k, v in figures.items() if k not in ("p99_ms",)}}


def loadgen_multistream(query: Callable[[int], object], n_available: int, per_sample: int, samples: int,
                        serving: Serving, batch_query: Callable[[list[int]], object] | None) -> dict[str, Any]:
    """MLPerf's MultiStream through loadgen: samples of ``per_sample`` queries, the p99 of a
    sample's latency (loadgen's 99th percentile over at least ``samples`` samples)."""
    lg = require_loadgen()
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.MultiStream
    settings.mode = lg.TestMode.PerformanceOnly
    settings.multi_stream_samples_per_query = int(per_sample)
    settings.min_query_count = int(samples)
    settings.min_duration_ms = 0
    figures = _run(lg, settings, _serve(query, batch_query), serving, n_available)
    return {"scenario": "multistream", "driver": "mlperf loadgen", "queries_per_sample": int(per_sample),
            "samples": int(samples), "serving": serving.describe(), **figures}
