"""The cold-item protocol on impressions: cold items leave the train split (as candidates and in
histories), their texts are blank in what a model trains on, and every metric is also computed
over each impression's warm candidates and over its cold ones, checked against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from recbench.protocol.settings import EvalSettings
from recbench.protocol.kinds.impressions import impressions_training_split
from recbench.results.significance import query_values
from recbench.protocol.kinds.base import evaluate
from recbench.protocol.kinds.tasks import Impressions, ImpressionsTask
from recbench.datasets._cold_impressions import first_seen_of, with_cold_items, without_items
from recbench.datasets._sequences import ColdItems

FAST = EvalSettings(n_bootstrap=20, latency_queries=0, offline_texts=0, progress=False, use_cache=False)


def toy_impressions(rng, n_items: int, n_imp: int, prefix: str) -> Impressions:
    hist_len = rng.integers(0, 6, size=n_imp)
    cand_len = rng.integers(3, 9, size=n_imp)
    candidates = np.concatenate([rng.choice(n_items, size=k, replace=False) for k in cand_len])
    labels = np.zeros(cand_len.sum(), dtype=np.int8)
    labels[np.r_[0, np.cumsum(cand_len)][:-1]] = 1  # one click per impression, at its first candidate
    return Impressions(ids=np.array([f"{prefix}{i}" for i in range(n_imp)]), users=np.arange(n_imp) % 7,
                       times=np.array([""] * n_imp), history=rng.integers(0, n_items, hist_len.sum()),
                       history_offsets=np.r_[0, np.cumsum(hist_len)], candidates=candidates,
                       candidate_offsets=np.r_[0, np.cumsum(cand_len)], labels=labels)


def toy_task(n_items: int = 40) -> ImpressionsTask:
    rng = np.random.default_rng(3)
    return ImpressionsTask(name="toy-mix", split="dev", item_ids=np.array([f"i{k}" for k in range(n_items)], dtype=object),
                           item_fields={"title": [f"title {k}" for k in range(n_items)]},
                           test=toy_impressions(rng, n_items, 60, "d"), train=toy_impressions(rng, n_items, 300, "t"),
                           fingerprint="toy")


def test_dropping_items_matches_a_loop_over_impressions():
    imps = toy_task().train
    drop = np.zeros(40, dtype=bool)
    drop[::3] = True
    out, gone = without_items(imps, drop)
    expected = []
    for i in range(len(imps)):
        c = imps.candidates_of(i)
        lab = imps.labels[imps.candidate_offsets[i]:imps.candidate_offsets[i + 1]]
        keep = ~drop[c]
        if keep.any() and lab[keep].any():
            h = imps.history_of(i)
            expected.append((imps.ids[i], h[~drop[h]].tolist(), c[keep].tolist(), lab[keep].tolist()))
    got = [(out.ids[i], out.history_of(i).tolist(), out.candidates_of(i).tolist(),
            out.labels[out.candidate_offsets[i]:out.candidate_offsets[i + 1]].tolist()) for i in range(len(out))]
    assert got == expected and gone == len(imps) - len(expected) > 0


def test_no_cold_item_reaches_training_and_cold_texts_are_blank():
    task = with_cold_items(toy_task(), ColdItems(0.3), None)
    cold = task.cold_items
    assert 0 < cold.sum() < len(cold)
    assert not cold[task.train.candidates].any() and not cold[task.train.history].any()
    assert cold[task.test.candidates].any()  # the evaluated impressions keep them
    train, valid = impressions_training_split(task, seed=0)
    for part in (train, valid):
        assert not cold[part.train.candidates].any() and not cold[part.test.candidates].any()
        assert all(t == "" for t, c in zip(part.item_fields["title"], cold) if c)
        assert all(t for t, c in zip(part.item_fields["title"], cold) if not c)
    assert task.fingerprint != toy_task().fingerprint  # the protocol is part of what the record names


def test_time_based_cold_items_are_those_first_engaged_last():
    task = toy_task()
    times = np.arange(40, dtype=np.float64)[::-1]  # item k first engaged at time 39 - k
    first_seen = first_seen_of(task.item_ids, (np.repeat(task.item_ids, 2), np.repeat(times, 2)))
    assert np.array_equal(first_seen, times)
    cold = with_cold_items(task, ColdItems(0.25, "time"), first_seen).cold_items
    assert np.array_equal(np.flatnonzero(cold), np.arange(10))  # items 0..9 came last
    with pytest.raises(ValueError, match="cold_by=time needs"):
        with_cold_items(task, ColdItems(0.25, "time"), None)


class Scorer:
    """Scores each item by a fixed random number: an item scorer with no knowledge."""
    name = "toy-scorer"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit_counts(self, counts):
        self.values = np.random.default_rng(self.seed).random(len(counts))

    def score_items(self, rows):
        return self.values[rows]


def test_part_metrics_match_scikit_learn_per_impression():
    task = with_cold_items(toy_task(), ColdItems(0.3), None)
    result = evaluate(Scorer(), task, FAST)
    imps, cold = task.test, task.cold_items
    for part, want in (("warm", False), ("cold", True)):
        ids, values = query_values(result.per_query, f"auc[{part}]")
        ref = []
        for i in range(len(imps)):
            sl = slice(imps.candidate_offsets[i], imps.candidate_offsets[i + 1])
            keep = cold[imps.candidates[sl]] == want
            y, s = imps.labels[sl][keep], result.scores[sl][keep]
            ref.append(roc_auc_score(y, s) if 0 < y.sum() < len(y) else np.nan)
        ref = np.array(ref)
        assert np.array_equal(np.isnan(values), np.isnan(ref)) and np.allclose(values[~np.isnan(ref)], ref[~np.isnan(ref)])
        assert result.metrics[f"auc[{part}]"]["n"] == int(np.isfinite(ref).sum()) > 0
        for name in ("auc", "mrr", "ndcg@5", "ndcg@10"):
            m = result.metrics[f"{name}[{part}]"]
            assert 0.0 <= m["ci_low"] <= m["value"] <= m["ci_high"] <= 1.0


@pytest.mark.integration
def test_popularity_is_at_chance_on_cold_candidates_of_real_impressions(real_data):
    """Popularity learns nothing about a cold item (no click on one is in train): among cold
    candidates it ranks by its seeded tie-break, at chance (AUC 1/2 within 4 standard errors);
    among warm candidates it is what it is over all."""
    from recbench.run.runner import run_cell

    settings = EvalSettings(n_bootstrap=50, latency_queries=0, offline_texts=0, progress=False, use_cache=False)
    rec = run_cell("popularity", "amazon-scientific-mix", dataset_options={"cold": 0.2}, settings=settings,
                   results_dir=None).record
    m = rec["metrics"]["auc[cold]"]
    se = 0.5 / np.sqrt(m["n"])  # one click, k >= 1 negatives in random order: AUC sd sqrt((k+2)/12k) <= 1/2
    assert abs(m["value"] - 0.5) < 4 * se and m["n"] > 1000
    assert rec["metrics"]["auc[warm]"]["n"] > 5000


def test_impressions_without_a_cold_candidate_give_no_cold_figure():
    """A validation slice under the protocol holds no cold item: its cold part is empty, and
    every cold metric is undefined (n = 0) rather than an error."""
    task = with_cold_items(toy_task(), ColdItems(0.3), None)
    _, valid = impressions_training_split(task, seed=0)
    result = evaluate(Scorer(), valid, FAST)
    assert result.metrics["auc[cold]"]["n"] == 0 and result.metrics["auc[warm]"]["n"] > 0
