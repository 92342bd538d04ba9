"""Cold vs warm caches: the same `recbench run` twice, in a fresh cache folder.

    RECBENCH_DATA=../shared/data python benchmarks/bench_cache.py --model sbert --dataset amazon-scientific-mix \
        --out benchmarks/results/cache.json

Each run is the CLI end to end (a process, the cell in its own child process, the record
written), quality only (``--latency-queries 0 --offline-texts 0``: latency is a measurement of
this run, never a cache entry, so a run that times the model must load it). The first run
builds the dataset's task and encodes every item; the second finds both in the cache and never
loads the model's weights. Reported: the process's wall time and the cell's own total.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import emit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sbert")
    parser.add_argument("--dataset", default="amazon-scientific-mix")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RECBENCH_CACHE": str(Path(tmp) / "cache")}
        for label in ("cold", "warm"):
            results = Path(tmp) / label
            command = [sys.executable, "-m", "recbench.cli", "run", "-m", args.model, "-d", args.dataset,
                       "--latency-queries", "0", "--offline-texts", "0", "--no-progress", "--results-dir", str(results)]
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            wall = time.perf_counter() - started
            record = json.loads(next(results.glob("*.json")).read_text())
            t = record["timing"]
            primary = record["primary_metric"]
            runs.append({"run": label, "process_wall_seconds": wall, "cell_total_seconds": t["total_seconds"],
                         "data_load_seconds": t["data_load_seconds"], "model_load_seconds": t["model_load_seconds"],
                         "encode_seconds": t["encode_seconds"], "embedding_cache_hit": t["embedding_cache_hit"],
                         primary: record["metrics"][primary]["value"]})
    cold, warm = runs
    assert cold[primary] == warm[primary], "the cached run changed the result"
    result = {"model": args.model, "dataset": args.dataset, "runs": runs,
              "process_ratio_cold_over_warm": cold["process_wall_seconds"] / warm["process_wall_seconds"],
              "cell_ratio_cold_over_warm": cold["cell_total_seconds"] / warm["cell_total_seconds"]}
    emit(result, args.out)


if __name__ == "__main__":
    main()
