"""The report's pipeline curves: one point per depth plus the first stage alone, in depth order,
from the records' own figures; the plot is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recbench.report.stages import pipeline_curves, pipelines_table, plot_pipelines

from minimal_record import record_with

REPO_RESULTS = Path(__file__).resolve().parents[1] / "results"


def pipeline_record(depth: int, value: float, p50: float, first_p50: float) -> dict:
    return record_with(
        primary_metric="ndcg@10", model={"spec": "sbert", "label": f"sbert{{rerank=colbert-minilm@{depth}}}"},
        metrics={"ndcg@10": {"value": value, "ci_low": value - 0.004, "ci_high": value + 0.004}},
        details={"pipeline": {"reranker": "colbert-minilm", "depth": depth, "first_stage_ndcg@10": 0.0483,
                              f"first_stage_recall@{depth}": 0.1}},
        timing={"latency": {"p50_ms": p50, "p99_ms": 2 * p50,
                            "stages": {"first": {"p50_ms": first_p50}, "rerank": {"p50_ms": p50 - first_p50}}}})


def test_each_pipeline_is_a_curve_from_its_first_stage_alone_through_its_depths(tmp_path):
    records = {f"r{k}": pipeline_record(k, v, p, f) for k, v, p, f in
               [(50, 0.067, 3.4, 0.56), (10, 0.054, 1.1, 0.44), (200, 0.071, 8.8, 0.62)]}
    records["plain"] = record_with(primary_metric="ndcg@10", model={"spec": "sif", "label": "sif"},
                                   metrics={"ndcg@10": {"value": 0.03, "ci_low": 0.02, "ci_high": 0.04}},
                                   timing={"latency": {"p50_ms": 0.1}})
    curves = pipeline_curves(records)
    assert list(curves) == [("sbert", "colbert-minilm")]
    points = curves[("sbert", "colbert-minilm")]
    assert [q["k"] for q in points] == [0, 10, 50, 200]
    assert points[0]["value"] == 0.0483 and points[0]["p50_ms"] == 0.56  # the median of the first stage's times
    assert [q["p50_ms"] for q in points[1:]] == [1.1, 3.4, 8.8]

    def save(fig, out):
        fig.savefig(out)
        return out

    out = plot_pipelines(records, "t", tmp_path / "p.png", save)
    assert out is not None and out.stat().st_size > 1000
    assert plot_pipelines({"plain": records["plain"]}, "t", tmp_path / "q.png", save) is None
    assert "| `sbert`" in pipelines_table(records)


def test_the_committed_sbert_colbert_curve_rises_with_depth_and_costs_more():
    files = sorted(REPO_RESULTS.glob("amazon-scientific__sbert_rerank_colbert-minilm_*___*.json"))
    if len(files) < 3:
        pytest.skip("the committed pipeline records are not here")
    records = {f.name: json.loads(f.read_text()) for f in files}
    points = pipeline_curves(records)[("sbert", "colbert-minilm")]
    assert points[0]["k"] == 0 and points[0]["value"] < min(q["value"] for q in points[1:])  # reranking helps
    deep = points[1:]
    assert deep[-1]["p50_ms"] > deep[0]["p50_ms"]  # a deeper rerank costs more


def test_the_pipelines_table_says_which_rows_scored_a_sample_and_names_a_checkpoint_by_its_folder():
    whole = pipeline_record(10, 0.054, 1.1, 0.44)
    sampled = pipeline_record(20, 0.035, 250.0, 0.5)
    sampled["details"]["pipeline"]["reranker"] = "cross-encoder:/home/me/.cache/recbench/checkpoints/ce-1"
    sampled["details"]["query_sample"] = {"queries": 300, "of": 1000, "seed": 0}
    table = pipelines_table({"a": whole, "b": sampled})
    lines = table.splitlines()
    assert "queries" in lines[0]
    assert any("`cross-encoder:ce-1`" in line and "300 of 1,000" in line for line in lines)
    assert any("`colbert-minilm`" in line and "| all " in line for line in lines)
    assert "/home/me" not in table
    assert "queries" not in pipelines_table({"a": whole}).splitlines()[0]  # no sample, no column
    # a checkpoint whose record says which cell trained it is named by that cell, never by its hash
    sampled["details"]["pipeline"]["trained_by"] = {"model": "cross-encoder", "dataset": "amazon-scientific-mix",
                                                    "budget": "200steps", "seed": 0}
    named = pipelines_table({"b": sampled})
    assert "`cross-encoder(amazon-scientific-mix,200steps,seed=0)`" in named and "ce-1" not in named
    assert [k[1] for k in pipeline_curves({"b": sampled})] == ["cross-encoder(amazon-scientific-mix,200steps,seed=0) (300 queries)"]


def test_a_sampled_pipeline_is_a_curve_of_its_own_per_sample_size():
    whole = {f"w{k}": pipeline_record(k, 0.05, 1.0 + k, 0.4) for k in (10, 20)}
    small = {f"s{k}": pipeline_record(k, 0.07, 1.0 + k, 0.4) for k in (10, 50)}
    for rec in small.values():
        rec["details"]["query_sample"] = {"queries": 100, "of": 1000, "seed": 0}
    curves = pipeline_curves({**whole, **small})
    assert set(curves) == {("sbert", "colbert-minilm"), ("sbert", "colbert-minilm (100 queries)")}
    assert [q["k"] for q in curves[("sbert", "colbert-minilm (100 queries)")]] == [0, 10, 50]
