"""Cold vs warm embedding cache: the same model on the same items twice.

    RECBENCH_DATA=../shared/data python benchmarks/bench_cache.py --model sbert --dataset amazon-scientific-mix \
        --out benchmarks/results/cache.json

Each run is a whole benchmark cell (model load, item encoding or cache read, pooling,
scoring, metrics, latency), in a fresh cache folder; the second finds every embedding cached.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import emit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sbert")
    parser.add_argument("--dataset", default="amazon-scientific-mix")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from recbench.benchmark.evaluate import EvalSettings
    from recbench.benchmark.runner import run_cell

    runs = []
    with tempfile.TemporaryDirectory() as cache:
        settings = EvalSettings(progress=False, cache_dir=cache)
        for label in ("cold", "warm"):
            rec = run_cell(args.model, args.dataset, settings=settings, results_dir=None).record
            t = rec["timing"]
            runs.append({"run": label, "cache_hit": t["embedding_cache_hit"], "encode_seconds": t["encode_seconds"],
                         "total_seconds": t["total_seconds"], "auc": rec["metrics"]["auc"]["value"]})
    cold, warm = runs
    assert cold["auc"] == warm["auc"], "cached embeddings changed the result"
    result = {"model": args.model, "dataset": args.dataset, "runs": runs,
              "total_ratio_cold_over_warm": cold["total_seconds"] / warm["total_seconds"],
              "encode_ratio_cold_over_warm": cold["encode_seconds"] / warm["encode_seconds"]}
    emit(result, args.out)


if __name__ == "__main__":
    main()
