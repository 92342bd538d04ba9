"""Vectorised MIND metrics vs a per-impression loop over scikit-learn, on real impressions.

    RECBENCH_DATA=../shared/data python benchmarks/bench_impression_metrics.py --out benchmarks/results/impression_metrics.json

The impressions are the train and dev splits of ml100k-mix and amazon-scientific-mix
(~150,000 real impressions, 21 candidates each); the scores are average-GloVe cosines with
mean pooling (real scores, a few ties). The loop is written as MIND's official evaluate.py
scores one impression (roc_auc_score, its mrr and ndcg functions); both must agree to 1e-9.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _common import emit
from sklearn.metrics import roc_auc_score


def mind_dcg(y_true, y_score, k):
    order = np.argsort(y_score, kind="stable")[::-1]
    y_true = np.take(y_true, order[:k])
    return np.sum((2 ** y_true - 1) / np.log2(np.arange(len(y_true)) + 2))


def loop_metrics(scores, labels, offsets):
    out = {"auc": [], "mrr": [], "ndcg@5": [], "ndcg@10": []}
    for i in range(len(offsets) - 1):
        s, y = scores[offsets[i]:offsets[i + 1]], labels[offsets[i]:offsets[i + 1]]
        out["auc"].append(roc_auc_score(y, s) if 0 < y.sum() < len(y) else np.nan)
        order = np.argsort(s, kind="stable")[::-1]
        yo = np.take(y, order)
        out["mrr"].append(np.sum(yo / (np.arange(len(yo)) + 1)) / np.sum(y) if y.sum() else np.nan)
        for k in (5, 10):
            out[f"ndcg@{k}"].append(mind_dcg(y, s, k) / mind_dcg(y, y, k) if y.sum() else np.nan)
    return {k: np.array(v) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from recbench.baselines.encoders.glove import GloveAverage
    from recbench.protocol.data import DataLocator
    from recbench.protocol.metrics import impression_metrics
    from recbench.protocol.pooling import Pooling, score_all, unit_rows
    from recbench.run.runner import build_dataset

    model = GloveAverage()
    all_scores, all_labels, all_lengths = [], [], []
    for name in ("ml100k-mix", "amazon-scientific-mix"):
        task = build_dataset(name, DataLocator()).load()
        unit = unit_rows(model.encode(task.item_texts()))
        for imps in (task.train, task.test):
            all_scores.append(score_all(unit, imps, Pooling("mean")).astype(np.float64))
            all_labels.append(imps.labels.astype(np.int64))
            all_lengths.append(np.diff(imps.candidate_offsets))
    scores, labels = np.concatenate(all_scores), np.concatenate(all_labels)
    offsets = np.r_[0, np.cumsum(np.concatenate(all_lengths))]
    n_imp = len(offsets) - 1
    print(f"{n_imp:,} impressions, {len(scores):,} candidates", file=sys.stderr)

    t0 = time.perf_counter()
    fast = impression_metrics(scores, labels, offsets)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = loop_metrics(scores, labels, offsets)
    t_loop = time.perf_counter() - t0
    max_diff = {k: float(np.nanmax(np.abs(fast[k] - slow[k]))) for k in fast}
    same_nan = all(bool(np.array_equal(np.isnan(fast[k]), np.isnan(slow[k]))) for k in fast)
    result = {
        "impressions": n_imp, "candidates": int(len(scores)),
        "vectorised_seconds": t_fast, "loop_seconds": t_loop, "speedup": t_loop / t_fast,
        "max_abs_difference": max_diff, "same_undefined_impressions": same_nan,
        "means": {k: float(np.nanmean(v)) for k, v in fast.items()},
    }
    emit(result, args.out)
    assert same_nan and max(max_diff.values()) < 1e-9, "vectorised and loop metrics disagree"


if __name__ == "__main__":
    main()
