"""Cold vs warm embedding cache: the same model on the same items twice.

    RECBENCH_DATA=../shared/data python benchmarks/bench_cache.py --model sbert --dataset amazon-scientific-mix \
        --out benchmarks/results/cache.json

Each run is a whole benchmark cell (model load, item encoding or cache read, pooling,
scoring, metrics, latency), in a fresh cache folder; the second finds every embedding cached.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sbert")
    parser.add_argument("--dataset", default="amazon-scientific-mix")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from recbench.benchmark.evaluate import EvalSettings
    from recbench.benchmark.runner import run_cell
    from recbench.benchmark.timing import Environment

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
              "encode_ratio_cold_over_warm": cold["encode_seconds"] / warm["encode_seconds"],
              "environment": {"fingerprint": Environment().fingerprint(), "git_sha": Environment().git_sha}}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
