"""Throughput of every serving path of a sentence encoder, in one process, on the STS-B test
sentences (not a unit test: run it by hand on a quiet machine).

    RECBENCH_DATA=../shared/data python benchmarks/bench_backends.py [--repeats 3] [--threads 2] \
        [--out benchmarks/results/backends.json]

For each path (PyTorch fp32, PyTorch dynamic int8, ONNX Runtime fp32, ONNX Runtime int8 of
all-MiniLM-L6-v2; MiniLM-L3 ONNX fp32/int8 when ``recbench[small]`` is installed; mpnet-base
when ``recbench[mpnet]`` is) it measures sentences/s at batch 1 (the first 256 sentences) and
batch 32 (all 2,758: both sides of every test pair). Repeats are interleaved across paths, so
machine noise hits all of them alike; the figure is the median, and every ratio is against
PyTorch fp32 measured in the same run. Each path's embeddings are also compared with PyTorch
fp32's (mean and minimum cosine) and scored on STS-B (Spearman x100), so a speed-up is never
reported without what it costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from _common import emit

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def paths() -> dict[str, object]:
    """Every serving path that can be built here, by row label."""
    from recbench.baselines.encoders.sbert import SBERT

    built: dict[str, object] = {}
    for backend in ("torch", "onnx"):
        for quantize in ("none", "int8"):
            built[f"sbert[backend={backend},quantize={quantize}]"] = SBERT(backend=backend, quantize=quantize)
    try:
        from recbench.baselines.encoders.sbert_sizes import MiniLML3

        built["minilm-l3"] = MiniLML3()
        built["minilm-l3[quantize=int8]"] = MiniLML3(quantize="int8")
    except RuntimeError as exc:
        print(f"skip minilm-l3: {exc}")
    try:
        from recbench.baselines.encoders.sbert_sizes import MPNetBase

        built["mpnet-base"] = MPNetBase()
        built["mpnet-base[backend=onnx,quantize=int8]"] = MPNetBase(backend="onnx", quantize="int8")
    except RuntimeError as exc:
        print(f"skip mpnet-base: {exc}")
    return built


def rate(model, texts: list[str], batch_size: int) -> float:
    t0 = time.perf_counter()
    model.encode(texts, batch_size=batch_size)
    return len(texts) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="pin every library to this many threads")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from recbench.protocol.data import DataLocator
    from recbench.protocol.encoding import cosine_rows
    from recbench.protocol.metrics import spearman
    from recbench.protocol.timing import pin_threads, thread_count
    from recbench.datasets.sts import STSBenchmark

    pin_threads(args.threads)
    task = STSBenchmark(name="sts-b", locator=DataLocator()).load("test")
    texts = list(dict.fromkeys(task.texts_a + task.texts_b))
    models = paths()
    reference = "sbert[backend=torch,quantize=none]"
    quality, agreement = {}, {}
    ref_emb = None
    for label, model in models.items():  # quality first (also the warm-up)
        emb = model.encode(texts, batch_size=32)
        index = {t: i for i, t in enumerate(texts)}
        a = emb[[index[t] for t in task.texts_a]]
        b = emb[[index[t] for t in task.texts_b]]
        quality[label] = 100 * float(spearman(cosine_rows(a, b), task.gold))
        if label == reference:
            ref_emb = emb
        if ref_emb is not None and emb.shape == ref_emb.shape:
            cos = cosine_rows(emb, ref_emb)
            agreement[label] = {"mean_cosine": float(cos.mean()), "min_cosine": float(cos.min())}
    runs: dict[str, dict[str, list[float]]] = {m: {"1": [], "32": []} for m in models}
    for r in range(args.repeats):
        order = list(models) if r % 2 == 0 else list(reversed(models))  # alternate who goes first
        for label in order:
            runs[label]["1"].append(rate(models[label], texts[:256], 1))
            runs[label]["32"].append(rate(models[label], texts, 32))
    medians = {m: {b: statistics.median(v) for b, v in r.items()} for m, r in runs.items()}
    result = {
        "sentences": len(texts), "repeats": args.repeats, "threads": thread_count(),
        "sentences_per_second": medians,
        "ratio_vs_torch_fp32": {m: {b: medians[m][b] / medians[reference][b] for b in ("1", "32")} for m in models},
        "sts_b_spearman": quality,
        "spearman_delta_vs_torch_fp32": {m: quality[m] - quality[reference] for m in models},
        "agreement_with_torch_fp32": agreement,
        "all_repeats": runs,
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
