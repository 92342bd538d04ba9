"""Encoders as rankers (pooling), popularity, the embedding cache, and the Mix-style builder."""

import json

import numpy as np
import pandas as pd
import pytest

from mind_fixture import write_mind
from recbench.baselines.references.popularity import Popularity
from recbench.protocol.data import DataLocator
from recbench.protocol.settings import EvalSettings
from recbench.protocol.kinds.base import evaluate
from recbench.protocol.kinds.impressions import click_counts
from recbench.protocol.pooling import Pooling, score_all, score_one, unit_rows
from recbench.protocol.kinds.tasks import Impressions
from recbench.datasets.mind import MindSmall
from recbench.datasets._logs import InteractionLog
from recbench.datasets.mix import MixRecipe, build_impressions
from recbench.datasets.mind import build_task


def toy_impressions(rng, n_items=30, n_imp=40):
    hist_len = rng.integers(0, 6, size=n_imp)
    cand_len = rng.integers(2, 7, size=n_imp)
    return Impressions(
        ids=np.arange(n_imp), users=np.arange(n_imp), times=np.array([""] * n_imp),
        history=rng.integers(0, n_items, hist_len.sum()), history_offsets=np.r_[0, np.cumsum(hist_len)],
        candidates=rng.integers(0, n_items, cand_len.sum()), candidate_offsets=np.r_[0, np.cumsum(cand_len)],
        labels=(rng.random(cand_len.sum()) < 0.3).astype(np.int8),
    )


@pytest.mark.parametrize("kind", ["mean", "topk", "mix"])
def test_pooling_matches_a_brute_force_computation(kind):
    rng = np.random.default_rng(0)
    unit = unit_rows(rng.normal(size=(30, 8)).astype(np.float32))
    imps = toy_impressions(rng)
    pooling = Pooling(kind, k=2, mix_weight=0.25)
    got = score_all(unit, imps, pooling)
    for i in range(len(imps)):
        h, c = imps.history_of(i), imps.candidates_of(i)
        lo, hi = imps.candidate_offsets[i], imps.candidate_offsets[i + 1]
        if len(h) == 0:
            assert np.all(got[lo:hi] == 0)
            continue
        profile = unit[h].mean(axis=0)
        mean = [float(unit[x] @ profile / np.linalg.norm(profile)) for x in c]
        top = [float(np.mean(sorted([unit[x] @ unit[y] for y in h])[-2:])) for x in c]
        want = {"mean": mean, "topk": top, "mix": [0.25 * t + 0.75 * m for t, m in zip(top, mean)]}[kind]
        np.testing.assert_allclose(got[lo:hi], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(score_one(unit, h, c, pooling), want, rtol=1e-5, atol=1e-6)


def test_popularity_counts_train_clicks_and_breaks_ties_by_seed():
    train = Impressions(ids=np.arange(2), users=np.arange(2), times=np.array(["", ""]),
                        history=np.array([], dtype=np.int64), history_offsets=np.array([0, 0, 0]),
                        candidates=np.array([0, 1, 2, 1, 3]), candidate_offsets=np.array([0, 3, 5]),
                        labels=np.array([0, 1, 0, 1, 1], dtype=np.int8))
    pop = Popularity(seed=0)
    pop.fit_counts(click_counts(train, 6))
    s = pop.score_items(np.arange(6))
    assert np.floor(s).tolist() == [0, 2, 0, 1, 0, 0]
    assert len(set(s.tolist())) == 6  # no ties left
    other = Popularity(seed=1)
    other.fit_counts(click_counts(train, 6))
    assert np.argsort(s)[-2:].tolist() == [3, 1] and not np.array_equal(s, other.score_items(np.arange(6)))


class CountingEncoder:
    name = "counting"
    params = {"dim": 8}
    calls = 0

    def __init__(self, arg=None):
        pass

    def encode(self, texts, batch_size=32):
        CountingEncoder.calls += 1
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, hash(t.split()[0]) % 8] = 1.0
            out[i, len(t) % 8] += 0.5
        return out


def test_the_embedding_cache_skips_encoding_on_a_second_run(tmp_path):
    write_mind(tmp_path / "data")
    task = MindSmall(name="mind-small", locator=DataLocator(data_dir=tmp_path / "data")).load()
    # offline_texts=0: the offline scenario encodes on purpose (it times the encoder); the cache is for items
    settings = EvalSettings(n_bootstrap=20, latency_queries=3, offline_texts=0, progress=False,
                            cache_dir=str(tmp_path / "cache"))
    CountingEncoder.calls = 0
    first = evaluate(CountingEncoder(), task, settings)
    calls_cold = CountingEncoder.calls
    second = evaluate(CountingEncoder(), task, settings)
    assert calls_cold >= 1 and CountingEncoder.calls == calls_cold  # nothing encoded the second time
    assert first.timing["embedding_cache_hit"] is False and second.timing["embedding_cache_hit"] is True
    assert first.metrics == second.metrics
    settings.use_cache = False
    evaluate(CountingEncoder(), task, settings)
    assert CountingEncoder.calls > calls_cold


def test_impression_metrics_skip_one_class_impressions_for_auc_only(tmp_path):
    write_mind(tmp_path / "data")
    task = MindSmall(name="mind-small", locator=DataLocator(data_dir=tmp_path / "data")).load()
    res = evaluate(CountingEncoder(), task, EvalSettings(n_bootstrap=20, latency_queries=3, progress=False,
                                                         use_cache=False))
    assert res.details["impressions_scored_auc"] == 4 and res.details["impressions_scored_mrr"] == 5
    assert res.metrics["auc"]["n"] == 4


def test_random_is_a_floor_at_one_half_on_real_impressions(real_data):
    from recbench.run.runner import run_cell

    settings = EvalSettings(n_bootstrap=200, latency_queries=5, progress=False, use_cache=False)
    aucs = []
    for seed in range(4):
        rec = run_cell("random", "amazon-scientific-mix", options={"seed": seed}, settings=settings,
                       results_dir=None).record
        aucs.append(rec["metrics"]["auc"]["value"])
        assert rec["metrics"]["auc"]["ci_high"] - rec["metrics"]["auc"]["ci_low"] < 0.03
    assert abs(np.mean(aucs) - 0.5) < 0.006  # 4 x 8,000 impressions: sd of the mean ~0.002
    assert len(set(aucs)) == 4  # the seed matters


def tiny_log(with_time=True):
    # 3 users; u1 engages a,b,c,d; u2 b,e,f; u3 a,g (g only by u3)
    rows = [("u1", "a", 1), ("u2", "b", 2), ("u1", "b", 3), ("u3", "a", 4), ("u2", "e", 5), ("u1", "c", 6),
            ("u2", "f", 7), ("u3", "g", 8), ("u1", "d", 9)]
    users, items, ts = map(np.array, zip(*rows))
    news = pd.DataFrame({"id": list("abcdefg"), "category": "", "subcategory": "", "title": list("ABCDEFG"),
                         "abstract": ""})
    return InteractionLog(users.astype(object), items.astype(object), ts.astype(np.int64) if with_time else None,
                          news, [])


@pytest.mark.parametrize("with_time", [True, False])
def test_mix_builder_follows_the_recipe(tmp_path, with_time):
    log = tiny_log(with_time)
    stats = build_impressions(log, tmp_path / "out", MixRecipe(negatives=2, window=3, seed=0))
    assert stats["dev"]["impressions"] == 3 and stats["train"]["impressions"] == 3
    task = build_task("mix", "dev", tmp_path / "out" / "dev", tmp_path / "out" / "train", "error")
    ids = task.item_ids
    engaged = {"u1": set("abcd"), "u2": set("bef"), "u3": set("ag")}
    final = {"u1": ("abc", "d"), "u2": ("be", "f"), "u3": ("a", "g")}
    for i in range(len(task.test)):
        user = task.test.users[i]
        hist = "".join(ids[r] for r in task.test.history_of(i))
        cands = [ids[r] for r in task.test.candidates_of(i)]
        labels = task.test.labels[task.test.candidate_offsets[i]:task.test.candidate_offsets[i + 1]]
        assert (hist, cands[int(np.argmax(labels))]) == final[user]  # the last engagement is dev's positive
        negatives = [c for c, y in zip(cands, labels) if y == 0]
        assert negatives and not set(negatives) & engaged[user]  # never the user's own items
    again = build_impressions(log, tmp_path / "again", MixRecipe(negatives=2, window=3, seed=0))
    assert (tmp_path / "out" / "dev" / "behaviors.tsv").read_text() == (tmp_path / "again" / "dev" / "behaviors.tsv").read_text()
    assert again == stats
    assert json.loads((tmp_path / "out" / "build.json").read_text())["negatives_from"].startswith(
        "time window" if with_time else "popularity-matched")
