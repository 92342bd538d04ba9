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


def test_a_peers_figures_show_per_rule_and_a_bad_file_is_skipped(tmp_path):
    import json

    import pytest

    from recbench.report.published import peer_table

    peers = tmp_path / "peers"
    peers.mkdir()
    est = {"value": 0.0720, "ci_low": 0.0700, "ci_high": 0.0740, "n": 10}
    (peers / "recbole-SASRec.json").write_text(json.dumps({
        "peer": "RecBole 1.2.1 SASRec <script>x</script>", "dataset": "amazon-scientific", "epochs": 200, "seed": 0,
        "figures": {"excluded": {"ndcg@10": est}, "kept": {"ndcg@10": {**est, "value": 0.0528}}}}))
    (peers / "other.json").write_text(json.dumps({"peer": "x", "dataset": "ml100k", "epochs": 1, "seed": 0, "figures": {}}))
    (peers / "broken.json").write_text("{")
    with pytest.warns(UserWarning, match="broken.json"):
        table = peer_table(tmp_path, "amazon-scientific")
    lines = [line for line in table.splitlines() if "SASRec" in line]
    assert len(lines) == 2 and "0.0720" in lines[0] and "0.0528" in lines[1] and "history kept" in lines[1]
    assert "<script>" not in table
    assert peer_table(tmp_path, "wine-similar") is None
