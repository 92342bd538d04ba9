"""A growing catalog: what it costs to add new items to a served text model, per item index.

    RECBENCH_DATA=../shared/data python benchmarks/bench_growing_catalog.py --out benchmarks/results/growing_catalog.json

On amazon-scientific with all-MiniLM-L6-v2 (``sbert``): the index is built over the catalog less
``--new-items`` items (the first by a seeded hash of the item id: the same items for every
index); then the new items arrive. Measured per index (flat, hnsw, ivfpq, sq8):
- seconds to encode the new items' texts and to insert them (IVF-PQ and SQ8 keep the quantisers
  trained on the old catalog: no retraining);
- query latency (p50, p99; one query at a time on one faiss thread: pool the user's history
  vectors, search, drop the history) while idle, and while a second thread encodes and inserts the new items in
  batches of 10 (a lock serialises index reads and writes, as a server would: faiss indexes are
  not safe to search while they grow);
- quality on the new items with no retraining: NDCG@10 over the test users whose next item is
  a new one, by what the grown index returns (top 100), beside exact search over the grown catalog.
"""

from __future__ import annotations

import argparse
import hashlib
import threading
import time
from pathlib import Path

import numpy as np

from _common import emit

INDEXES = ("flat", "hnsw", "ivfpq", "sq8")


def unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n > 0, n, 1)).astype(np.float32)


def ndcg_at_10(found: list[np.ndarray], targets: np.ndarray) -> float:
    out = []
    for hits, t in zip(found, targets):
        where = np.flatnonzero(hits[:10] == t)
        out.append(1.0 / np.log2(where[0] + 2) if len(where) else 0.0)
    return float(np.mean(out)) if out else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="amazon-scientific")
    parser.add_argument("--new-items", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=400, help="timed queries per scenario")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from recbench.baselines.encoders.sbert import SBERT
    from recbench.protocol.cache import EmbeddingCache
    from recbench.protocol.data import DataLocator
    from recbench.protocol.indexes import build_index
    from recbench.run.runner import build_dataset
    from recbench.protocol.timing import pin_threads

    import faiss

    pin_threads(None)
    faiss.omp_set_num_threads(1)  # one query at a time on one thread: OpenMP's spinning would time the machine's load
    task = build_dataset(args.dataset, DataLocator()).load("test")
    texts = task.item_texts()
    n = len(texts)
    order = np.argsort([hashlib.sha256(f"0:{i}".encode()).hexdigest() for i in task.item_ids], kind="stable")
    new_rows, old_rows = np.sort(order[: args.new_items]), np.sort(order[args.new_items:])
    model = SBERT()
    cache = EmbeddingCache()
    old_texts = [texts[r] for r in old_rows]
    old_vectors = cache.get(model, old_texts)
    if old_vectors is None:
        old_vectors = model.encode(old_texts, batch_size=64)
        cache.put(model, old_texts, old_vectors)
    old_unit = unit(old_vectors)
    model.load_weights()
    model.encode(texts[:16], batch_size=16)  # warm the encoder before anything is timed

    # test users whose next item is a new one; user vectors from the history (new items too)
    all_unit = np.zeros((n, old_unit.shape[1]), dtype=np.float32)
    all_unit[old_rows] = old_unit
    is_new = np.zeros(n, dtype=bool)
    is_new[new_rows] = True
    users = np.flatnonzero(is_new[task.targets])
    picks = np.linspace(0, len(task) - 1, args.queries).astype(int)

    rows: list[dict] = []
    new_texts = [texts[r] for r in new_rows]
    for name in INDEXES:
        index = build_index(name, old_unit)
        ids = list(old_rows)  # faiss position -> catalog row
        lock = threading.Lock()
        query_vectors = {}

        def query(i: int) -> float:
            h = task.history_of(int(i))
            q = unit(all_unit[h].sum(axis=0, keepdims=True))
            t0 = time.perf_counter()
            with lock:
                index.search(q, 10 + len(h))
            return time.perf_counter() - t0

        idle = np.array([query(i) for i in picks])
        inserted = {"encode": 0.0, "insert": 0.0}

        def grow() -> None:
            for s in range(0, len(new_rows), 10):
                t0 = time.perf_counter()
                vec = unit(model.encode(new_texts[s : s + 10], batch_size=10))
                t1 = time.perf_counter()
                with lock:
                    index.index.add(vec)
                    ids.extend(new_rows[s : s + 10])
                t2 = time.perf_counter()
                all_unit[new_rows[s : s + 10]] = vec
                inserted["encode"] += t1 - t0
                inserted["insert"] += t2 - t1

        worker = threading.Thread(target=grow)
        worker.start()
        busy = []
        while worker.is_alive() or len(busy) < len(picks):
            busy.append(query(picks[len(busy) % len(picks)]))
            if not worker.is_alive() and len(busy) >= len(picks):
                break
        worker.join()
        busy = np.array(busy)

        # quality on the new items: users whose target is new, search the grown index
        id_of = np.array(ids)
        found, exact_found = [], []
        for i in users:
            h = task.history_of(int(i))
            q = unit(all_unit[h].sum(axis=0, keepdims=True))
            hits = id_of[index.search(q, 100 + len(h))[0]]
            found.append(hits[~np.isin(hits, h)])
            scores = all_unit @ q[0]
            scores[h] = -np.inf
            exact_found.append(np.argsort(-scores, kind="stable")[:10])
        rows.append({
            "index": name, "new_items": int(len(new_rows)), "build_seconds_old_catalog": index.build_seconds,
            "encode_seconds": inserted["encode"], "insert_seconds": inserted["insert"],
            "idle_p50_ms": float(np.percentile(idle, 50) * 1e3), "idle_p99_ms": float(np.percentile(idle, 99) * 1e3),
            "during_inserts_p50_ms": float(np.percentile(busy, 50) * 1e3),
            "during_inserts_p99_ms": float(np.percentile(busy, 99) * 1e3), "queries_during_inserts": int(len(busy)),
            "new_item_targets": int(len(users)), "ndcg@10_new_items": ndcg_at_10(found, task.targets[users]),
            "ndcg@10_new_items_exact": ndcg_at_10(exact_found, task.targets[users]),
        })
        all_unit[new_rows] = 0.0  # the next index starts from the old catalog again
        print(rows[-1])
    emit({"dataset": args.dataset, "model": "sbert (all-MiniLM-L6-v2)", "rows": rows}, args.out)


if __name__ == "__main__":
    main()
