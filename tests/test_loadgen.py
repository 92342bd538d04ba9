"""MLPerf's loadgen behind the server and MultiStream scenarios (issue 40): on a constant-time
model (a sleep: no idle core needed) the rate our server search finds and the one loadgen's
Server scenario finds agree within 10%, and loadgen's MultiStream sees what ours sees."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("mlperf_loadgen", reason="pip install -e '.[mlperf]'")

from recbench.protocol.loadgen import loadgen_multistream, summary_figures  # noqa: E402
from recbench.protocol.scenarios import Serving, multistream, server, single_stream  # noqa: E402

SERVICE = 0.005  # a query takes 5 ms: one worker saturates at 200 queries/s


def query(i: int) -> None:
    time.sleep(SERVICE)


@pytest.mark.integration
def test_loadgen_and_our_server_search_agree_within_ten_percent():
    single = single_stream(query, 10, warmup=0)
    ours = server(query, 10, single, bound_ms=50.0, seconds=1.5, seed=0, steps=6)
    theirs = server(query, 10, single, bound_ms=50.0, seconds=1.5, seed=0, steps=6, driver="loadgen")
    assert theirs["driver"] == "mlperf loadgen" and all("loadgen" in p for p in theirs["probes"])
    a, b = ours["max_rate_qps"], theirs["max_rate_qps"]
    assert a > 0 and b > 0 and abs(a - b) / max(a, b) < 0.10, (ours["probes"], theirs["probes"])


def test_loadgen_multistream_sees_a_samples_queries_as_ours_does():
    per_sample, serving = 4, Serving(workers=4)
    theirs = loadgen_multistream(query, 20, per_sample, 40, serving, None)
    ours = multistream(query, 20, per_sample, 40, serving)
    assert theirs["driver"] == "mlperf loadgen" and theirs["p50_ms"] is not None
    # four 5 ms queries on four workers: about 5 ms a sample either way, never the 20 ms of one worker
    assert theirs["p50_ms"] < 3 * SERVICE * 1000 and ours["p50_ms"] < 3 * SERVICE * 1000


def test_a_loadgen_summary_is_read_for_its_verdict_and_percentiles():
    text = ("Result is : INVALID\n  Performance constraints satisfied : Yes\n  Min duration satisfied : Yes\n"
            "  Min queries satisfied : Yes\n  Early stopping satisfied: NO\nCompleted samples per second    : 93.72\n"
            "50.00 percentile latency (ns)   : 6983723\n99.00 percentile latency (ns)   : 16405207\n")
    figures = summary_figures(text)
    assert figures["result"] == "INVALID" and figures["early_stopping_satisfied"] == "NO"
    assert figures["p99_ms"] == pytest.approx(16.405207) and figures["completed_qps"] == 93.72
