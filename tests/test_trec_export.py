"""--export trec (issue 37): the run and qrels files, scored by trec_eval itself (through
ir-measures and pytrec_eval), give the record's NDCG, Recall and MRR to 1e-9 on tie-free runs,
query by query."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.api import EvalSettings, baselines, evaluate
from recbench.protocol.kinds.base import export_format
from test_every_model_smoke import impressions_task, item_to_item_task, sequences_task

ir_measures = pytest.importorskip("ir_measures")
FAST = dict(n_bootstrap=20, latency_queries=2, offline_texts=0, progress=False)


def scored(folder, measures):
    qrels = list(ir_measures.read_trec_qrels(str(folder / "qrels.trec")))
    run = list(ir_measures.read_trec_run(str(folder / "run.trec")))
    out: dict = {}
    for m in ir_measures.iter_calc(measures, qrels, run):
        out.setdefault(str(m.measure), {})[m.query_id] = m.value
    return out, run


def assert_tie_free(run):
    by_query: dict = {}
    for r in run:
        by_query.setdefault(r.query_id, []).append(r.score)
    for scores in by_query.values():
        assert len(set(scores)) == len(scores), "the test needs a run without ties"


@pytest.mark.parametrize("make, kind, pairs", [
    (sequences_task, "sequences", {"nDCG@10": "ndcg@10", "R@10": "recall@10", "RR": "mrr"}),
    (item_to_item_task, "item-to-item", {"nDCG@10": "ndcg@10", "R@10": "hr@10", "RR": "mrr"}),
])
def test_trec_eval_scores_the_export_as_the_record_does(make, kind, pairs, tmp_path):
    """hr@10 of item-to-item is a hit (any relevant item in the top 10); with one relevant item
    per query it is trec_eval's recall (the fixture's queries each have one)."""
    task = make()
    result = evaluate(baselines.get("sif")(), task, EvalSettings(**FAST, cache_dir=str(tmp_path)))
    files = export_format("trec", kind)[1](task, result, tmp_path / "out")
    assert [f.name for f in files] == ["run.trec", "qrels.trec"]
    per_query, run = scored(tmp_path / "out", [ir_measures.parse_measure(m) for m in pairs])
    assert_tie_free(run)
    ids = [str(q) for q in result.per_query["query_id"]]
    for measure, ours in pairs.items():
        theirs = per_query[measure]
        values = result.per_query[ours]
        for q, v in zip(ids, values):
            if np.isfinite(v):
                assert theirs.get(q, 0.0) == pytest.approx(v, abs=1e-9), (measure, q)


def test_impressions_export_ranks_as_minds_scorer_does(tmp_path):
    task = impressions_task()
    result = evaluate(baselines.get("sif")(), task, EvalSettings(**FAST, cache_dir=str(tmp_path)))
    export_format("trec", "impressions")[1](task, result, tmp_path / "out")
    per_query, run = scored(tmp_path / "out", [ir_measures.parse_measure("nDCG@10")])
    assert_tie_free(run)
    for q, v in zip(task.test.ids, result.per_query["ndcg@10"]):
        if np.isfinite(v):
            assert per_query["nDCG@10"][str(q)] == pytest.approx(v, abs=1e-9)


def test_run_lists_the_top_items_best_first_without_excluded_ones(tmp_path):
    task = sequences_task()
    result = evaluate(baselines.get("sif")(), task, EvalSettings(**FAST, cache_dir=str(tmp_path)))
    export_format("trec", "sequences")[1](task, result, tmp_path / "out")
    lines = [line.split() for line in (tmp_path / "out" / "run.trec").read_text().splitlines()]
    first_user = [row for row in lines if row[0] == str(task.users[0])]
    assert [int(r[3]) for r in first_user] == list(range(1, len(first_user) + 1))
    scores = [float(r[4]) for r in first_user]
    assert scores == sorted(scores, reverse=True)
    history = {str(task.item_ids[i]) for i in task.history_of(0)} - {str(task.item_ids[task.targets[0]])}
    assert not history & {r[2] for r in first_user}  # the user's history is excluded, as in the metrics
    qrels = (tmp_path / "out" / "qrels.trec").read_text().splitlines()
    assert qrels[0].split() == [str(task.users[0]), "0", str(task.item_ids[task.targets[0]]), "1"]


def test_an_id_with_white_space_is_refused_naming_it(tmp_path):
    from recbench.protocol.settings import EvaluationError
    from recbench.protocol.trec import write_trec

    with pytest.raises(EvaluationError, match="'item 7'"):
        write_trec(tmp_path, [("q1", "item 7", 0.5)], [("q1", "item 7", 1)])


def test_ranked_lists_keep_each_rows_top_in_score_then_catalog_order():
    """The vectorised top-``depth`` gather against a plain per-row sort: ties broken by catalog
    order, excluded (-inf) items never listed, short rows padded with -1 / NaN."""
    import numpy as np

    from recbench.protocol.trec import RankedLists

    rng = np.random.default_rng(0)
    for _ in range(200):
        n, m, depth = int(rng.integers(1, 15)), int(rng.integers(1, 25)), int(rng.integers(1, 30))
        scores = rng.integers(0, 4, size=(n, m)).astype(float)  # many ties
        scores[rng.random((n, m)) < 0.3] = -np.inf
        lists = RankedLists(depth)
        lists.add(scores)
        items, values = lists.result()
        for r, row in enumerate(scores):
            finite = [j for j in range(m) if np.isfinite(row[j])]
            expected = sorted(finite, key=lambda j: (-row[j], j))[:min(depth, m)]
            assert items[r, :len(expected)].tolist() == expected
            assert (items[r, len(expected):] == -1).all() and np.isnan(values[r, len(expected):]).all()
            assert values[r, :len(expected)].tolist() == [row[j] for j in expected]
