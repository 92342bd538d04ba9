"""Issue 40's table from the records of ``suites/serving-concurrency.toml``: each row's server max
QPS under its p99 bound, with 1/2/4 worker threads and the dynamic batcher, our replay beside MLPerf's
loadgen, and the single-stream p99 the search starts from.

    recbench run --suite serving-concurrency --results-dir results --no-progress
    python benchmarks/serving_table.py results
"""

from __future__ import annotations

import sys
from pathlib import Path

from recbench.results.records import iter_records


def rows(results_dir: Path) -> list[dict]:
    out = []
    for _path, record in iter_records(results_dir):
        settings, server = record.get("settings") or {}, (record.get("timing") or {}).get("server")
        if not server or settings.get("server_p99_ms") is None:
            continue
        serving = server.get("serving") or {}
        cell = record["cell"]
        options = ",".join(f"{k}={v}" for k, v in sorted((cell.get("model_options") or {}).items()))
        threads = f"{{threads={settings['threads']}}}" if settings.get("threads") else ""
        out.append({"model": cell["model"] + (f"[{options}]" if options else "") + threads,
                    "dataset": cell["dataset"], "bound_ms": server.get("p99_bound_ms"),
                    "workers": serving.get("workers", 1),
                    "batch": (f"{serving['max_batch']}/{serving['max_wait_ms']:g} ms" if serving.get("max_batch", 1) > 1
                              else "-"),
                    "driver": "loadgen" if server.get("driver") == "mlperf loadgen" else "ours",
                    "single_p99_ms": (record["timing"].get("latency") or {}).get("p99_ms"),
                    "qps": server.get("max_rate_qps"), "probes": len(server.get("probes") or []),
                    "date": record.get("date", ""), "busy": bool((server.get("load") or {}).get("busy"))})
    return sorted(out, key=lambda r: (r["dataset"], r["model"], r["driver"], r["batch"], r["workers"], r["date"]))


def main(argv: list[str]) -> None:
    folder = Path(argv[1] if len(argv) > 1 else "results")
    print("| model | dataset | p99 bound | workers | batcher | driver | single-stream p99 (ms) | server max QPS | probes | when |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows(folder):
        qps = "-" if r["qps"] is None else f"{r['qps']:.{2 if r['qps'] < 10 else 1}f}" + (" ⚠ busy" if r["busy"] else "")
        single = "-" if r["single_p99_ms"] is None else f"{r['single_p99_ms']:.1f}"
        print(f"| {r['model']} | {r['dataset']} | {r['bound_ms']:g} ms | {r['workers']} | {r['batch']} | {r['driver']} "
              f"| {single} | {qps} | {r['probes']} | {r['date'][:16]} |")


if __name__ == "__main__":
    main(sys.argv)
