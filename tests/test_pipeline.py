"""Two-stage pipelines (--rerank) and the per-stage latency split."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.protocol.kinds.ranking import relevant_tie_counts
from recbench.protocol.metrics import expected_ranking_metrics
from recbench.protocol.rerank import Reranker, first_stage_recall, reranked_block, reranked_top
from recbench.protocol.scenarios import single_stream
from recbench.protocol.stages import stage


def toy(n_queries=30, n_items=50, seed=0):
    rng = np.random.default_rng(seed)
    first = rng.normal(size=(n_queries, n_items))
    second = rng.normal(size=(n_queries, n_items))
    excluded = rng.integers(0, n_items, size=n_queries)  # one excluded item per query
    return first, second, excluded, np.arange(n_queries + 1)


@pytest.mark.parametrize("depth", [1, 5, 20, 49, 50, 80])
def test_the_pipeline_ranking_matches_a_brute_force_rerank(depth):
    first, second, excluded, ex_off = toy()
    rr = Reranker("toy", lambda i, rows: second[i, rows], {})
    block = reranked_block(lambda rows: first[rows], rr, depth, excluded, ex_off)(np.arange(len(first)))
    for i in range(len(first)):
        allowed = np.setdiff1d(np.arange(first.shape[1]), [excluded[i]])
        by_first = allowed[np.argsort(-first[i, allowed], kind="stable")]
        top, rest = by_first[:depth], by_first[depth:]
        want = np.r_[top[np.argsort(-second[i, top], kind="stable")], rest]
        got = allowed[np.argsort(-block[i, allowed], kind="stable")]
        assert np.array_equal(got, want)


def test_a_full_depth_rerank_is_the_reranker_alone_and_depth_one_is_the_first_stage():
    first, second, excluded, ex_off = toy()
    targets = np.random.default_rng(5).integers(0, 50, size=30)
    targets = np.where(targets == excluded, (targets + 1) % 50, targets)
    rr = Reranker("toy", lambda i, rows: second[i, rows], {})
    rel_off = np.arange(31)

    def ndcg(block):
        h, t = relevant_tie_counts(block, 30, targets, rel_off, excluded, ex_off)
        return expected_ranking_metrics(h, t, rel_off, None, 10)["ndcg@10"]

    full = ndcg(reranked_block(lambda rows: first[rows], rr, 50, excluded, ex_off))
    assert np.allclose(full, ndcg(lambda rows: second[rows]))
    assert np.allclose(ndcg(reranked_block(lambda rows: first[rows], rr, 1, excluded, ex_off)),
                       ndcg(lambda rows: first[rows]))


def test_first_stage_recall_counts_ties_as_a_random_order_would():
    higher, tied = np.array([0, 9, 10, 8, 5]), np.array([0, 0, 0, 3, 0])
    # depth 10: ranks 1, 10, 11 -> 1, 1, 0; the fourth is tied over ranks 9..12 -> 2/4; the last 1
    assert first_stage_recall(higher, tied, 10) == pytest.approx((1 + 1 + 0 + 0.5 + 1) / 5)


def test_each_stage_gets_its_own_percentiles_and_the_top_level_adds_up():
    first, second, _, _ = toy()
    rr = Reranker("toy", lambda i, rows: second[i, rows], {})

    def first_top(i, k):
        with stage("pool"):
            q = first[i]
        with stage("search"):
            return np.argsort(-q)[:k]

    one = reranked_top(first_top, rr, 10)
    out = single_stream(lambda i: one(i % 30), 40)
    stages = out["stages"]
    assert set(stages) == {"first", "first.pool", "first.search", "rerank"}
    assert stages["first"]["mean_ms"] + stages["rerank"]["mean_ms"] <= out["mean_ms"] * 1.0001
    assert stages["first.pool"]["mean_ms"] + stages["first.search"]["mean_ms"] <= stages["first"]["mean_ms"] * 1.0001
    assert np.array_equal(one(3), np.argsort(-first[3])[:10][np.argsort(-second[3, np.argsort(-first[3])[:10]],
                                                                         kind="stable")])


@pytest.mark.parametrize("kind", ["mean", "topk", "mix"])
def test_an_impression_served_from_stored_vectors_splits_into_pool_and_score(kind):
    from recbench.protocol.pooling import Pooling, score_one

    rng = np.random.default_rng(0)
    unit = rng.normal(size=(40, 8)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    out = single_stream(lambda i: score_one(unit, np.arange(10), np.arange(10, 31), Pooling(kind, 3, 0.5)), 20)
    assert set(out["stages"]) == ({"score"} if kind == "topk" else {"pool", "score"})
    assert sum(s["mean_ms"] for s in out["stages"].values()) <= out["mean_ms"] * 1.0001


def test_a_stage_outside_a_timed_query_records_nothing():
    with stage("search"):
        pass
    out = single_stream(lambda i: None, 5)
    assert "stages" not in out


def test_bad_pipelines_are_refused_before_anything_loads(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from recbench.cli.app import app

    monkeypatch.chdir(tmp_path)
    cli = CliRunner()
    out = cli.invoke(app, ["run", "-m", "sif", "-d", "lee", "--rerank", "sbert"])
    assert "skip  sif x lee: --rerank applies to item-to-item, sequences tasks, not 'pairs'" in out.output  # a grid skips it
    out = cli.invoke(app, ["run", "-m", "sif", "-d", "amazon-scientific", "--rerank", "colbrt"])
    assert out.exit_code == 2 and "colbert" in out.output  # a suggestion for the misspelt reranker
    out = cli.invoke(app, ["run", "-m", "sif", "-d", "amazon-scientific", "--rerank-depth", "50"])
    assert out.exit_code == 2 and "--rerank-depth applies with --rerank only" in out.output
    out = cli.invoke(app, ["run", "-m", "sif", "-d", "amazon-scientific", "--rerank", "cross-encoder"])
    assert out.exit_code == 2 and "or a trained checkpoint (cross-encoder:<checkpoint folder>" in out.output
    out = cli.invoke(app, ["run", "-m", "sif", "-d", "amazon-scientific", "--rerank", "sbert", "--rerank-depth", "x"])
    assert out.exit_code == 2 and "whole numbers" in out.output
    assert not (tmp_path / "runs").exists()
    from recbench.run.cells import Cell
    from recbench.protocol.settings import EvalSettings

    cell = Cell.resolve("sif", "amazon-scientific", settings=EvalSettings(rerank="cross-encoder:/ckpt", rerank_depth=20))
    assert cell.settings.rerank == "cross-encoder:/ckpt"  # a joint scorer of impressions reranks sequences


@pytest.mark.integration
def test_a_reranker_over_the_whole_catalog_is_the_reranker_alone(real_data, isolated_cache):
    """popularity's top N re-ordered by SIF, N the whole catalog, is SIF's own ranking (the same
    cosine with the mean of the history's vectors); at depth 1 it is popularity's, apart from the
    first place. Latency comes split by stage."""
    from recbench.protocol.settings import EvalSettings
    from recbench.run.runner import run_cell

    base = dict(n_bootstrap=20, latency_queries=20, offline_texts=0, progress=False)
    sif = run_cell("sif", "ml100k", settings=EvalSettings(**base), results_dir=None).record
    pipe = run_cell("popularity", "ml100k", settings=EvalSettings(**base, rerank="sif", rerank_depth=100_000),
                    results_dir=None).record
    assert pipe["metrics"]["ndcg@10"]["value"] == pytest.approx(sif["metrics"]["ndcg@10"]["value"], abs=1e-9)
    assert pipe["model"]["label"] == "popularity{rerank=sif@100000}"
    details = pipe["details"]["pipeline"]
    assert details["first_stage_recall@100000"] == pytest.approx(1.0)
    assert set(pipe["timing"]["latency"]["stages"]) >= {"first", "rerank"}
    shallow = run_cell("popularity", "ml100k", settings=EvalSettings(**base, rerank="sif", rerank_depth=10),
                       results_dir=None).record
    assert shallow["details"]["pipeline"]["first_stage_recall@10"] == pytest.approx(
        shallow["metrics"]["recall@10"]["value"], abs=1e-9)  # a rerank inside the top 10 keeps its members


@pytest.mark.integration
@pytest.mark.parametrize("dataset", ["ml100k", "amazon-scientific-mix", "wine-similar"])
def test_a_query_sample_is_seeded_the_same_for_every_row_and_a_subset_of_the_full_run(dataset, real_data,
                                                                                      isolated_cache):
    """--max-queries scores a seeded sample: the same queries for two models (paired tests hold),
    each query's figure the one the full run gives it, and the record says it was sampled."""
    from recbench.protocol.settings import EvalSettings
    from recbench.run.runner import compute_run
    from recbench.run.cells import Cell

    base = dict(n_bootstrap=20, latency_queries=5, offline_texts=0, progress=False)

    def run(model, **extra):
        return compute_run(Cell.resolve(model, dataset, settings=EvalSettings(**base, **extra)))

    full = run("sif")
    a, b = run("sif", max_queries=300), run("random", max_queries=300)
    assert np.array_equal(a.per_query["query_id"], b.per_query["query_id"]) and len(a.per_query["query_id"]) == 300
    pm = a.record["primary_metric"]
    where = {q: k for k, q in enumerate(full.per_query["query_id"])}
    picked = np.array([where[q] for q in a.per_query["query_id"]])
    assert np.allclose(a.per_query[pm], full.per_query[pm][picked], equal_nan=True)
    assert a.record["details"]["query_sample"] == {"queries": 300, "of": len(full.per_query["query_id"]), "seed": 0}
    assert a.record["model"]["label"] == "sif{max_queries=300}"
    assert a.record["dataset"]["sizes"] == full.record["dataset"]["sizes"]  # the dataset's, not the sample's


def test_an_item_to_item_sample_keeps_each_querys_judgments_exclusions_and_id():
    from recbench.protocol.kinds.item_to_item import sample_item_queries
    from recbench.protocol.kinds.tasks import ItemToItemTask

    task = ItemToItemTask(name="toy", split="test", item_ids=np.arange(6), item_fields={"description": list("abcdef")},
                          relevant=np.array([1, 2, 3, 4, 5, 0]), relevant_offsets=np.array([0, 2, 3, 6]),
                          grades=np.array([1, 2, 3, 4, 5, 6]), excluded=np.array([0, 1, 2]),
                          excluded_offsets=np.array([0, 1, 2, 3]), query_items=np.array([0, 1, 2]))
    part = sample_item_queries(task, np.array([2, 0]))
    assert list(part.query_ids) == [0, 2] and list(part.query_items) == [0, 2]
    assert list(part.relevant) == [1, 2, 4, 5, 0] and list(part.relevant_offsets) == [0, 2, 5]
    assert list(part.grades) == [1, 2, 4, 5, 6]
    assert list(part.excluded) == [0, 2] and list(part.excluded_offsets) == [0, 1, 2]
    again = sample_item_queries(part, np.array([1]))  # a sample of a sample keeps the first ids
    assert list(again.query_ids) == [2] and list(again.relevant) == [4, 5, 0]


def test_a_checkpoint_reranker_is_labelled_by_its_folder_name_not_its_path():
    from recbench.results.records import short_spec
    from recbench.run.runner import serving_variant
    from recbench.protocol.settings import EvalSettings

    assert short_spec("cross-encoder:/home/a/.cache/recbench/checkpoints/cross-encoder-37e3") == \
        "cross-encoder:cross-encoder-37e3"
    assert short_spec("colbert-minilm") == "colbert-minilm"
    assert short_spec("sbert:all-MiniLM-L6-v2") == "sbert:all-MiniLM-L6-v2"
    here = EvalSettings(rerank="cross-encoder:/x/y/ce-1", rerank_depth=50)
    there = EvalSettings(rerank="cross-encoder:/other/disk/ce-1", rerank_depth=50)
    assert serving_variant(here) == serving_variant(there) == {"rerank": "cross-encoder:ce-1@50"}


def test_a_dataset_folder_is_labelled_by_its_last_part_and_a_digest_and_the_record_keeps_the_path(tmp_path):
    from recbench.run.cells import Cell
    from recbench.results.records import record_filename, short_spec

    one, two = "interactions:/data/shop-a/log", "interactions:/data/shop-b/log"
    assert short_spec(one, hashed=True).startswith("interactions:log-")
    assert short_spec(one, hashed=True) != short_spec(two, hashed=True)  # same last part, other folders
    assert short_spec("ml100k", hashed=True) == "ml100k"
    cell = Cell(model="random", dataset=one, split="test", kind="sequences")
    assert "/data" not in cell.dataset_label
    name = record_filename({"dataset": {"name": cell.dataset_label}, "model": {"label": "random"},
                            "run_id": "20260101T000000Z-abcdef"})
    assert name.startswith("interactions_log-") and "data" not in name.split("__")[0].replace("interactions_log-", "")
