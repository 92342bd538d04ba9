"""Any cutoff (issue 37): --cutoffs 5,10,20 adds every ranking metric at those cutoffs on every
ranking kind, the primary metric unchanged; a kind that ranks nothing refuses it."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from recbench.api import EvalSettings, baselines, evaluate
from recbench.cli import app
from recbench.protocol.metrics import expected_ranking_metrics, impression_metrics
from recbench.run.cells import Cell, CellError, UnsupportedCell
from test_every_model_smoke import impressions_task, item_to_item_task, sequences_task

FAST = dict(n_bootstrap=20, latency_queries=2, offline_texts=0, progress=False)


@pytest.mark.parametrize("make, names", [
    (sequences_task, ["ndcg@10", "recall@10", "ndcg@3", "recall@3", "ndcg@20", "recall@20", "mrr"]),
    (item_to_item_task, ["mrr", "hr@3", "ndcg@3", "hr@10", "ndcg@10", "hr@20", "ndcg@20"]),
    (impressions_task, ["auc", "mrr", "ndcg@3", "ndcg@5", "ndcg@10", "ndcg@20"]),
])
def test_more_cutoffs_add_metrics_and_change_none(make, names, tmp_path):
    model = baselines.get("sif")()
    plain = evaluate(model, make(), EvalSettings(**FAST, cache_dir=str(tmp_path)))
    more = evaluate(model, make(), EvalSettings(**FAST, cache_dir=str(tmp_path), cutoffs=(3, 20)))
    accuracy = [m for m in more.metrics if m.split("@")[0] in ("ndcg", "recall", "hr", "mrr", "auc")
                and "[" not in m]
    assert accuracy == names
    for name, estimate in plain.metrics.items():  # the kind's own metrics, the primary among them, unchanged
        assert more.metrics[name] == estimate
    hit = "recall" if "recall@3" in names else "hr" if "hr@3" in names else None
    if hit:  # a relevant item in the top 3 is in the top 10 and the top 20
        per_query = more.per_query
        assert np.all(per_query[f"{hit}@3"] <= per_query[f"{hit}@10"] + 1e-12)
        assert np.all(per_query[f"{hit}@10"] <= per_query[f"{hit}@20"] + 1e-12)


def test_a_cutoff_of_the_catalog_size_finds_every_relevant_item():
    rng = np.random.default_rng(0)
    higher = rng.integers(0, 50, size=40)
    tied = rng.integers(0, 3, size=40)
    offsets = np.arange(41)
    whole = expected_ranking_metrics(higher, tied, offsets, None, k=60)
    assert np.allclose(whole["hr@60"], 1.0)  # every rank is within 53 <= 60
    in_impressions = impression_metrics(rng.random(12), np.array([1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0.0]),
                                        np.array([0, 6, 12]), cutoffs=(1, 12))
    assert set(in_impressions) == {"auc", "mrr", "ndcg@1", "ndcg@12"}
    assert np.all(in_impressions["ndcg@12"] >= in_impressions["ndcg@1"] - 1e-12)


def test_cutoffs_are_refused_where_nothing_is_ranked_or_where_they_mean_nothing():
    with pytest.raises(UnsupportedCell, match="--cutoffs applies to ranking tasks"):
        Cell.resolve("sif", "lee", settings=EvalSettings(cutoffs=(5,)))
    for bad in ((0,), (5, 5), ()):
        with pytest.raises(CellError, match="--cutoffs takes distinct whole numbers"):
            Cell.resolve("sif", "ml100k", settings=EvalSettings(cutoffs=bad))
    out = CliRunner().invoke(app, ["run", "-m", "sif", "-d", "ml100k", "--cutoffs", "5,x", "--dry-run"])
    assert out.exit_code == 2 and "--cutoffs takes whole numbers" in out.output


def test_a_cell_with_cutoffs_is_a_cell_of_its_own_and_one_without_keeps_its_key():
    plain = Cell.resolve("sif", "ml100k")
    assert plain.key == "94a83cef1ae0"  # the committed record's key: no new setting changes an old cell
    more = Cell.resolve("sif", "ml100k", settings=EvalSettings(cutoffs=(5, 20)))
    assert more.key != plain.key
    from recbench.results.cell_spec import CellSpec

    spec = more.spec()
    assert spec.settings == {"cutoffs": [5, 20]} and "--cutoffs 5,20" in spec.command_line()
    assert Cell.from_spec(CellSpec.from_dict(spec.to_dict())).key == more.key
