"""A row's latency comes from its quiet runs (issue 35): a multi-seed row took its newest seed's
latency, even a busy one (nrms on amazon-scientific-mix: 31.97 ms beside 0.62 and 0.33 ms)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recbench.results.rows import row_latency
from minimal_record import record_with


def run(p50: float, busy: bool) -> tuple[Path, dict]:
    return Path("x.json"), record_with(timing={"latency": {"p50_ms": p50, "p99_ms": 2 * p50, "load": {"busy": busy}}})


def test_the_median_of_the_quiet_runs_and_no_busy_mark():
    row = row_latency([run(0.62, False), run(31.97, True), run(0.33, False)])
    assert row["p50_ms"] == pytest.approx((0.62 + 0.33) / 2) and row["p99_ms"] == pytest.approx(0.95)
    assert row["busy"] == "" and row["latency_runs"] == "2 quiet of 3"


def test_a_row_whose_every_run_was_busy_keeps_its_mark():
    row = row_latency([run(5.0, True), run(7.0, True), run(9.0, True)])
    assert row["p50_ms"] == 7.0 and row["busy"] == "latency" and row["latency_runs"] == "0 quiet of 3"


def test_a_busy_rerun_does_not_undo_an_earlier_quiet_timing():
    row = row_latency([run(69.9, True)], earlier=[run(20.5, False), run(40.0, True)])
    assert row["p50_ms"] == 20.5 and row["busy"] == "" and row["latency_runs"] == "1 quiet of 2"
    quiet_now = row_latency([run(21.0, False)], earlier=[run(20.5, False)])
    assert quiet_now["p50_ms"] == 21.0  # the newest runs, when quiet, are the row's
    assert row_latency([run(69.9, True)], earlier=[run(40.0, True)])["busy"] == "latency"


def test_the_board_takes_an_earlier_quiet_run_of_the_same_row_only(tmp_path):
    """Through load(): an older record of the same cell lends its quiet timing to the row whose
    newest run was timed busy."""
    import json

    from recbench.results.rows import load

    def write(name, date, p50, busy):
        rec = record_with(date=date, run_id=name, timing={"latency": {"p50_ms": p50, "p99_ms": p50, "load": {"busy": busy}}})
        (tmp_path / f"{name}.json").write_text(json.dumps(rec))

    write("20260101T000000Z-aaaaaa", "2026-01-01T00:00:00+00:00", 20.5, False)
    write("20260102T000000Z-bbbbbb", "2026-01-02T00:00:00+00:00", 69.9, True)
    row = load(tmp_path).iloc[0]
    assert row["p50_ms"] == 20.5 and row["busy"] == ""


def test_one_run_is_its_own_latency():
    assert row_latency([run(1.5, False)])["p50_ms"] == 1.5
    assert row_latency([run(1.5, True)])["latency_runs"] == "busy"
    assert row_latency([(Path("y.json"), record_with(timing={}))])["p50_ms"] is None


def test_a_sampled_row_is_never_on_the_frontier_nor_a_budget_answer_beside_full_rows():
    """Issue 35: 27 {max_queries=N} rows took ★ and the budget view offered sbert{max_queries=300}."""
    import pandas as pd

    from recbench.report.budget import budget_view, parse_budget
    from recbench.results.rows import full_rows_frontier, sample_key

    frame = pd.DataFrame([
        {"dataset": "d", "split": "test", "model": "full-slow", "value": 0.5, "p50_ms": 5.0, "p99_ms": 9.0, "sample": None},
        {"dataset": "d", "split": "test", "model": "full-fast", "value": 0.3, "p50_ms": 1.0, "p99_ms": 2.0, "sample": None},
        {"dataset": "d", "split": "test", "model": "sampled", "value": 0.9, "p50_ms": 0.1, "p99_ms": 0.2, "sample": 300},
    ])
    frame["ci_low"], frame["ci_high"], frame["machine"], frame["server_qps"] = frame["value"] - 0.1, frame["value"] + 0.1, "m", None
    frame["kind"], frame["primary_metric"], frame["bytes_per_item"] = "pairs", "spearman", None
    assert list(full_rows_frontier(frame)) == [True, True, False]
    assert list(sample_key(frame)) == ["all", "all", "sample of 300"]
    answer = budget_view(frame, parse_budget("p99=10ms")).iloc[0]
    assert "full-slow" in str(answer.to_dict()) and "sampled" not in str(answer.to_dict())


def rec(label: str, machine: str, p50: float, value: float, seed: int | None = None, busy: bool = False) -> tuple[Path, dict]:
    r = record_with(dataset={"name": "d", "split": "test", "kind": "pairs"}, model={"label": label},
                    environment={"fingerprint": machine}, date=f"2026-01-01T00:00:0{seed or 0}",
                    timing={"latency": {"p50_ms": p50, "p99_ms": p50 * 2, "load": {"busy": busy}}},
                    metrics={"spearman": {"value": value, "ci_low": value, "ci_high": value}}, primary_metric="spearman")
    return Path(f"{label}-{machine}-{seed}.json"), r


def test_the_board_machine_holds_most_rows_and_a_row_takes_its_latency_there():
    from recbench.results.rows import board_machines

    groups = [[rec("a", "fast", 1.0, 0.5)], [rec("b", "slow", 2.0, 0.6), rec("b", "fast", 0.5, 0.6, seed=1)],
              [rec("c", "slow", 3.0, 0.7)], [rec("e", "slow", 4.0, 0.1)]]
    assert board_machines(groups) == {("d", "test"): "slow"}  # three rows have a run there, two on fast
    assert board_machines(groups, prefer="FAST") == {("d", "test"): "fast"}
    both = row_latency(groups[1], "slow")
    assert both["p50_ms"] == 2.0 and both["machine"] == "slow" and both["on_board"]
    elsewhere = row_latency(groups[0], "slow")
    assert elsewhere["p50_ms"] == 1.0 and elsewhere["machine"] == "fast" and not elsewhere["on_board"]
    # the row whose seeds ran on two machines takes the board's, not the newest seed's
    assert row_latency(groups[1], "fast")["p50_ms"] == 0.5


def test_sampled_rows_do_not_choose_the_board_machine():
    from recbench.results.rows import board_machines

    sampled = [rec(f"s{i}", "xeon", 1.0, 0.5) for i in range(3)]
    for _, r in sampled:
        r["details"] = {"query_sample": {"queries": 300, "of": 1000, "seed": 0}}
    groups = [[p] for p in sampled] + [[rec("a", "epyc", 1.0, 0.5)], [rec("b", "epyc", 1.0, 0.5)]]
    assert board_machines(groups) == {("d", "test"): "epyc"}


def test_the_reference_floors_are_marked_and_a_model_is_not():
    from recbench.results.rows import is_floor

    assert is_floor("random") and is_floor("popularity")
    assert not is_floor("sbert") and not is_floor("no-such-model")


def test_pairwise_tests_are_cached_by_the_records_and_recomputed_when_one_changes(tmp_path, monkeypatch):
    """Issue 35: the report spent most of its minutes in pairwise tests of an unchanged board."""
    import numpy as np

    import recbench.results.comparisons as report
    from recbench.results.rows import load
    from recbench.results.records import write_record
    from minimal_record import minimal_record

    runs = tmp_path / "runs"
    rng = np.random.default_rng(0)
    gold = rng.normal(size=40)
    for i, noise in enumerate((0.1, 0.5, 2.0)):
        rec = minimal_record(f"20260101T00000{i}Z-abcde{i}")
        rec["model"]["label"] = rec["cell_key"] = f"m{i}"
        pred = gold + noise * rng.normal(size=40)
        value = float(np.corrcoef(pred, gold)[0, 1] * 100)
        rec["metrics"] = {"pearson": {"value": value, "ci_low": value - 5, "ci_high": value + 5}}
        write_record(rec, runs, {"query_id": np.arange(40), "prediction": pred, "gold": gold})
    frame = load(runs)
    first = report.significance_vs_best(frame, n_perm=200)
    assert len(first) == 2 and (runs / ".recbench-cache" / "pvalues.json").is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("a cached test was computed again")

    monkeypatch.setattr(report, "compare_rows", refuse)
    assert report.significance_vs_best(frame, n_perm=200) == first
    (runs / ".recbench-cache" / "pvalues.json").write_text("not json")  # a damaged cache is an empty one
    monkeypatch.undo()
    assert report.significance_vs_best(frame, n_perm=200) == first


def test_a_plot_is_drawn_again_only_when_its_points_change(tmp_path, monkeypatch):
    import pandas as pd

    import recbench.report.plots as report

    group = pd.DataFrame([{"model": m, "p50_ms": p, "value": v, "ci_low": v - 0.1, "ci_high": v + 0.1, "frontier": f,
                           "primary_metric": "ndcg@10"} for m, p, v, f in (("a", 1.0, 0.5, True), ("b", 2.0, 0.4, False))])
    out = tmp_path / "plots" / "d__test.png"
    assert report.plot_dataset(group, "d (test)", out) == out and out.is_file()
    drawn = []
    real = report.save_figure
    monkeypatch.setattr(report, "save_figure", lambda fig, path: drawn.append(path) or real(fig, path))
    report.plot_dataset(group, "d (test)", out)
    assert drawn == []  # the same points: the file stands
    group.loc[1, "value"] = 0.45
    report.plot_dataset(group, "d (test)", out)
    assert drawn == [out]
    out.unlink()
    report.plot_dataset(group, "d (test)", out)  # a plot file removed by hand is drawn again
    assert len(drawn) == 2 and out.is_file()


def test_a_swapped_sidecar_misses_the_p_value_cache(tmp_path):
    """The cache key is the sidecar file's own digest: a record cannot claim another's cached test."""
    import numpy as np

    import recbench.results.comparisons as report
    from recbench.results.records import write_record
    from minimal_record import minimal_record

    runs = tmp_path / "runs"
    path = write_record(minimal_record(), runs, {"query_id": np.arange(3), "prediction": np.ones(3), "gold": np.ones(3)})
    cache = report.PValueCache(None)
    before = cache.key([str(path)], [str(path)])
    np.savez_compressed(path.with_suffix(".queries.npz"), query_id=np.arange(3), prediction=np.zeros(3), gold=np.ones(3))
    assert report.PValueCache(None).key([str(path)], [str(path)]) != before
