"""Published figures sit beside our row measured under their source's evaluation rule (issue 38):
Recformer's Table 2 ranked with the history kept, so its SASRec figure faces our
``sasrec{seen_items=kept}`` row, never the default rule's."""

from __future__ import annotations

from minimal_record import record_with
from recbench.report.published import published_table, without_rule


def run(label: str, settings: dict, ndcg: float) -> dict:
    metrics = {m: {"value": ndcg, "ci_low": ndcg - 0.001, "ci_high": ndcg + 0.001} for m in ("ndcg@10", "recall@10")}
    return record_with(dataset={"name": "amazon-scientific", "split": "test", "kind": "sequences"},
                       model={"name": "sasrec", "label": label, "params": {}}, settings=settings,
                       primary_metric="ndcg@10", metrics=metrics)


def test_labels_lose_only_the_rule():
    assert without_rule("sasrec{seen_items=kept}") == "sasrec"
    assert without_rule("sasrec{seen_items=kept,train=2400steps}") == "sasrec{train=2400steps}"
    assert without_rule("sasrec{max_queries=5,seen_items=kept}") == "sasrec{max_queries=5}"


def test_a_published_figure_faces_the_row_under_its_rule():
    table = published_table([run("sasrec", {}, 0.0766), run("sasrec{seen_items=kept}", {"seen_items": "kept"}, 0.0555)])
    line = next(row for row in table.splitlines() if row.startswith("| SASRec") and "ndcg@10" in row)
    assert "0.0555" in line and "0.0766" not in line and "history kept" in line
    alone = published_table([run("sasrec", {}, 0.0766)])
    line = next(row for row in alone.splitlines() if row.startswith("| SASRec") and "ndcg@10" in row)
    assert "not run under this rule" in line and "0.0766" not in line
