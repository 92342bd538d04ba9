"""Full ranking for every Amazon-Scientific test user: faiss exact inner-product search vs a
plain numpy sort, and ColBERT late interaction vs SBERT on the same queries.

    RECBENCH_DATA=../shared/data python benchmarks/bench_full_ranking.py --out benchmarks/results/full_ranking.json

1. Item vectors from SIF over the items' text (title. categories. brand), user vectors the
   mean of their history's unit vectors; each user's history is excluded. faiss
   (IndexFlatIP, top 10 + the longest history, filtered) vs numpy (all scores, excluded set
   to -inf, full argsort per user): the top-10 lists must be identical; the ratio of times.
2. colbert-minilm vs sbert: the same 200 STS-B test pairs, one at a time (encode both texts,
   then cosine or symmetric MaxSim), interleaved in one process; the ratio of median latency,
   and the bytes each stores per text (SBERT: one 384-d float32 vector; ColBERT: every token).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _common import emit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    from recbench.baselines.encoders.glove import SIF
    from recbench.protocol.data import DataLocator
    from recbench.protocol.kinds.ranking import faiss_index
    from recbench.protocol.kinds.sequences import pool_histories
    from recbench.protocol.pooling import unit_rows
    from recbench.run.runner import build_dataset

    task = build_dataset("amazon-scientific", DataLocator()).load("test")
    texts = task.item_texts()
    sif = SIF()
    sif.fit_corpus(texts)
    items = unit_rows(sif.encode(texts))
    users = pool_histories(items, task, "mean", 0.8)
    n_users, n_items = len(task), len(items)
    max_hist = int(np.diff(task.history_offsets).max())

    owner = np.repeat(np.arange(n_users), np.diff(task.history_offsets))
    keep = task.history != task.targets[owner]  # the history is excluded, the target never is
    ex_owner, ex_items = owner[keep], task.history[keep]
    excluded = [set() for _ in range(n_users)]
    for o, it in zip(ex_owner, ex_items):
        excluded[o].add(int(it))

    t0 = time.perf_counter()
    index = faiss_index(items)
    idx = index.search(users, 10 + max_hist)
    faiss_top = [[int(x) for x in idx[i] if int(x) not in excluded[i]][:10] for i in range(n_users)]
    t_faiss = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores = users @ items.T
    scores[ex_owner, ex_items] = -np.inf
    numpy_top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    t_numpy = time.perf_counter() - t0

    same = sum(a == b for a, b in zip(faiss_top, numpy_top.tolist()))
    # where the lists differ, is it only the order of (near-)tied scores?
    tied = 0
    for i in range(n_users):
        a, b = faiss_top[i], numpy_top[i].tolist()
        if a != b and np.allclose(np.sort(scores[i, a]), np.sort(scores[i, b]), atol=1e-6):
            tied += 1
    print(f"faiss {t_faiss:.3f}s vs numpy sort {t_numpy:.3f}s; identical top-10 for {same}/{n_users} users, "
          f"{tied} more differ only in the order of tied scores", file=sys.stderr)
    result = {"users": n_users, "items": n_items, "faiss_seconds": t_faiss, "numpy_sort_seconds": t_numpy,
              "speedup": t_numpy / t_faiss, "identical_top10_users": int(same),
              "differ_only_in_tied_order": int(tied), "users_with_different_scores": int(n_users - same - tied)}
    # --- ColBERT vs SBERT on the same queries --------------------------------------------
    from recbench.baselines.encoders.colbert import ColBERTMiniLM
    from recbench.baselines.encoders.sbert import SBERT
    from recbench.protocol.late_interaction import symmetric_maxsim, token_bytes_per_item

    sts = build_dataset("sts-b", DataLocator()).load("test")
    picks = np.linspace(0, len(sts) - 1, args.queries).astype(int)
    sbert, colbert = SBERT(), ColBERTMiniLM()
    for _ in range(5):  # warm-up
        sbert.encode([sts.texts_a[0], sts.texts_b[0]], batch_size=2)
        colbert.encode_tokens([sts.texts_a[0], sts.texts_b[0]], kind="document", batch_size=2)
    t_sbert, t_colbert = [], []
    for n, j in enumerate(picks):
        pair = [sts.texts_a[j], sts.texts_b[j]]
        runs = [("sbert", lambda: sbert.encode(pair, batch_size=2)),
                ("colbert", lambda: symmetric_maxsim(*colbert.encode_tokens(pair, kind="document", batch_size=2)))]
        if n % 2:
            runs.reverse()
        for name, fn in runs:
            t = time.perf_counter()
            fn()
            (t_sbert if name == "sbert" else t_colbert).append((time.perf_counter() - t) * 1000)
    distinct = sorted(set(sts.texts_a) | set(sts.texts_b))
    col_bytes = token_bytes_per_item(colbert.encode_tokens(distinct, kind="document"))
    result.update({
        "latency_queries": int(args.queries),
        "sbert_p50_ms": statistics.median(t_sbert), "colbert_p50_ms": statistics.median(t_colbert),
        "colbert_over_sbert_latency": statistics.median(t_colbert) / statistics.median(t_sbert),
        "sbert_bytes_per_text": 384 * 4, "colbert_bytes_per_text": col_bytes,
        "colbert_over_sbert_bytes": col_bytes / (384 * 4),
    })
    emit(result, args.out)


if __name__ == "__main__":
    main()
