"""Encoding speed benchmarks on the real STS-B test sentences (not a unit test: run it by hand).

    RECBENCH_DATA=../shared/data python benchmarks/bench_encode.py [--repeats 5] [--out benchmarks/results/encode.json]

1. SBERT through recbench vs plain ``SentenceTransformer.encode``: the same 2,758 sentences
   (both sides of every STS-B test pair), the same batch size, interleaved in one process so
   that machine noise hits both alike; the ratio of medians (recbench / plain throughput).
2. SIF encode throughput once vectors are loaded and its component fitted.
3. GloVe 6B 50d load time, and SIF's whole construction (vectors + word weights).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from _common import emit

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from recbench.protocol.data import DataLocator
    from recbench.datasets.sts import STSBenchmark

    task = STSBenchmark(name="sts-b", locator=DataLocator()).load("test")
    sentences = task.texts_a + task.texts_b
    print(f"{len(sentences)} STS-B test sentences", file=sys.stderr)
    results: dict = {"sentences": len(sentences), "batch_size": args.batch_size, "repeats": args.repeats}

    # --- 3. load times ---------------------------------------------------------------------
    from recbench.baselines.encoders._words import load_glove_6b_50d
    from recbench.baselines.encoders.glove import SIF

    results["glove_load_seconds"] = statistics.median(timed(load_glove_6b_50d) for _ in range(3))
    results["sif_construct_seconds"] = statistics.median(timed(lambda: SIF(pc="self")) for _ in range(3))

    # --- 2. SIF throughput -----------------------------------------------------------------
    sif = SIF(pc="self")
    sif.fit_corpus(sentences)
    sif.encode(sentences[:256])
    sif_times = [timed(lambda: sif.encode(sentences)) for _ in range(max(args.repeats, 10))]
    results["sif_sentences_per_second"] = len(sentences) / statistics.median(sif_times)

    # --- 1. SBERT through recbench vs plain sentence-transformers -------------------------
    from sentence_transformers import SentenceTransformer

    from recbench.baselines.encoders.sbert import SBERT, default_model_path

    ours = SBERT()
    plain = SentenceTransformer(default_model_path(), device="cpu")
    ours.encode(sentences[:64], batch_size=args.batch_size)
    plain.encode(sentences[:64], batch_size=args.batch_size)
    t_ours, t_plain = [], []
    for r in range(args.repeats):
        pair = [("ours", lambda: ours.encode(sentences, batch_size=args.batch_size)),
                ("plain", lambda: plain.encode(sentences, batch_size=args.batch_size, show_progress_bar=False))]
        if r % 2:
            pair.reverse()  # alternate which goes first
        for name, fn in pair:
            (t_ours if name == "ours" else t_plain).append(timed(fn))
        print(f"repeat {r}: recbench {t_ours[-1]:.2f}s, plain {t_plain[-1]:.2f}s", file=sys.stderr)
    results["sbert_recbench_seconds"] = t_ours
    results["sbert_plain_seconds"] = t_plain
    results["sbert_recbench_sentences_per_second"] = len(sentences) / statistics.median(t_ours)
    results["sbert_plain_sentences_per_second"] = len(sentences) / statistics.median(t_plain)
    results["sbert_throughput_ratio"] = statistics.median(t_plain) / statistics.median(t_ours)
    emit(results, args.out)
    print(f"SBERT recbench/plain throughput ratio: {results['sbert_throughput_ratio']:.3f} (goal >= 0.95)")
    print(f"SIF: {results['sif_sentences_per_second']:,.0f} sentences/s (goal >= 100,000)")
    print(f"GloVe 6B 50d load: {results['glove_load_seconds']:.2f} s; SIF construction: {results['sif_construct_seconds']:.2f} s")


if __name__ == "__main__":
    main()
