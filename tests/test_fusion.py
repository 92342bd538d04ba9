"""--fuse (issue 37): reciprocal-rank fusion of first stages. Ranks checked against scipy's
rankdata; a model fused with itself ranks as it does alone; the served top 10 is the fused
order; malformed specs, kinds without a full ranking and training models are refused."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata
from typer.testing import CliRunner

from recbench.api import EvalSettings, baselines, evaluate
from recbench.cli import app
from recbench.protocol.fusion import FusionSpec, fused_block, fused_top, parse_fusion, shared_ranks
from recbench.protocol.settings import EvaluationError
from test_every_model_smoke import item_to_item_task, sequences_task

FAST = dict(n_bootstrap=20, latency_queries=2, offline_texts=0, progress=False)


def test_specs_parse_and_bad_ones_say_the_form():
    assert parse_fusion("rrf:bm25") == FusionSpec("rrf", 60.0, (("bm25", 1.0),), 100)
    assert parse_fusion("rr:bm25*0.5+sif@50") == FusionSpec("rr", 0.0, (("bm25", 0.5), ("sif", 1.0)), 50)
    assert parse_fusion("rr:bm25*0.5+sif@50").label() == "rr:bm25*0.5+sif@50"
    for bad in ("bm25", "borda:bm25", "rrf:", "rrf:bm25*x", "rrf:bm25@0"):
        with pytest.raises(EvaluationError, match="METHOD:MODEL"):
            parse_fusion(bad)


def test_shared_ranks_are_scipys_min_ranks():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(6, 30)).astype(np.float64)
    scores[0, :3] = -np.inf
    ranks = shared_ranks(scores)
    for row, r in zip(scores, ranks):
        finite = np.isfinite(row)
        np.testing.assert_array_equal(r[finite], rankdata(-row[finite], method="min"))
        assert (r[~finite] > len(row)).all()


def test_a_model_fused_with_itself_ranks_as_it_does_alone(tmp_path):
    task = sequences_task()  # a catalog under the fusion depth: every item is ranked by both
    settings = EvalSettings(**FAST, cache_dir=str(tmp_path))
    alone = evaluate(baselines.get("sif")(), task, settings)
    fused = evaluate(baselines.get("sif")(), task, EvalSettings(**FAST, cache_dir=str(tmp_path), fuse="rrf:sif"))
    for metric in ("ndcg@10", "recall@10", "mrr"):
        assert fused.metrics[metric]["value"] == pytest.approx(alone.metrics[metric]["value"], abs=1e-9)
    assert fused.details["fusion"]["models"]["sif"]["weight"] == 1.0


def test_the_served_top_is_the_fused_order():
    n, rows = 40, np.arange(5)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, n)), rng.normal(size=(5, n))
    excluded, offsets = np.array([0, 1]), np.array([0, 2, 2, 2, 2, 2])
    spec = parse_fusion("rrf:b*0.5@15")

    def top_of(scores):
        def one(i, k=10):
            s = scores[i].copy()
            s[excluded[offsets[i]:offsets[i + 1]]] = -np.inf
            return np.argsort(-s, kind="stable")[:k]
        return one

    block = fused_block([lambda r: a[r], lambda r: b[r]], [1.0, 0.5], spec, excluded, offsets)(rows)
    served = fused_top([top_of(a), top_of(b)], [1.0, 0.5], spec)
    for i in rows:
        expected = np.argsort(-block[i], kind="stable")[:10]
        np.testing.assert_array_equal(served(i, 10), expected)
        assert block[i][excluded[offsets[i]:offsets[i + 1]]].max(initial=0) == 0  # excluded items get nothing


def test_fusion_changes_the_ranking_of_two_different_models(tmp_path):
    task = item_to_item_task()
    settings = EvalSettings(**FAST, cache_dir=str(tmp_path), fuse="rrf:bm25")
    fused = evaluate(baselines.get("sif")(), task, settings)
    assert set(fused.details["fusion"]["models"]) == {"bm25"}
    assert 0.0 <= fused.metrics["ndcg@10"]["value"] <= 1.0


def test_cli_refuses_what_cannot_fuse(tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["run", "-m", "sif", "-d", "lee", "--fuse", "rrf:bm25", "--results-dir", str(tmp_path)])
    assert "--fuse applies to ranking tasks" in out.output
    out = runner.invoke(app, ["run", "-m", "sif", "-d", "wine-similar", "--fuse", "rrf:nosuchmodel",
                              "--results-dir", str(tmp_path)])
    assert out.exit_code != 0 and "nosuchmodel" in out.output
    out = runner.invoke(app, ["run", "-m", "sif", "-d", "wine-similar", "--fuse", "borda:bm25",
                              "--results-dir", str(tmp_path)])
    assert out.exit_code != 0 and "METHOD:MODEL" in out.output


def test_impressions_fuse_within_each_impression(tmp_path):
    from test_every_model_smoke import impressions_task

    task = impressions_task()
    alone = evaluate(baselines.get("sif")(), task, EvalSettings(**FAST, cache_dir=str(tmp_path)))
    itself = evaluate(baselines.get("sif")(), task, EvalSettings(**FAST, cache_dir=str(tmp_path), fuse="rrf:sif"))
    for metric in ("auc", "mrr", "ndcg@10"):  # a fusion of equal rankings ranks the same
        assert itself.metrics[metric]["value"] == pytest.approx(alone.metrics[metric]["value"], abs=1e-12)
    other = evaluate(baselines.get("sif")(), task, EvalSettings(**FAST, cache_dir=str(tmp_path), fuse="rrf:bm25"))
    assert other.details["fusion"]["models"].keys() == {"bm25"} and 0 <= other.metrics["auc"]["value"] <= 1
