"""`recbench calibrate` (issue 35): a short probe cached per machine, carried by every run record
made afterwards, and shown beside the machine's name on the board."""

from __future__ import annotations

from recbench.protocol.calibration import cached, describe, probe, store
from recbench.protocol.registry import datasets
from recbench.protocol.timing import Environment

from test_every_model_smoke import QUICK, dataset_of


def test_the_probe_measures_three_positive_rates_quickly():
    figures = probe(seconds=0.05)
    for key in ("matmul_gflops", "flat_search_queries_per_s", "minilm_sentences_per_s"):
        assert figures[key] is None or figures[key] > 0, key
    assert figures["matmul_gflops"] > 0 and "one thread" in describe(figures)


def test_a_run_carries_this_machines_cached_calibration_and_the_board_shows_it(tmp_path, isolated_cache):
    from recbench.run.cells import Cell
    from recbench.results.records import write_record
    from recbench.report.leaderboard import render_markdown
    from recbench.run.runner import compute_run

    datasets.add("calib-pairs", dataset_of("pairs"))
    try:
        cell = Cell.resolve("random", "calib-pairs", settings=QUICK)
        assert "calibration" not in compute_run(cell).record["environment"]  # never probed: nothing claimed
        fingerprint = Environment().fingerprint()
        figures = {"version": 1, "matmul_gflops": 12.5, "flat_search_queries_per_s": 700.0, "minilm_sentences_per_s": 60.0}
        store(fingerprint, figures)
        assert cached(fingerprint) == figures and cached("another machine") is None
        run = compute_run(cell)
        assert run.record["environment"]["calibration"] == figures
        write_record(run.record, tmp_path / "runs", run.per_query)
    finally:
        datasets.remove("calib-pairs")
    board = render_markdown(tmp_path / "runs", None, tmp_path, significance=False)
    assert "calibration: MiniLM 60 sentences/s, BLAS 12.5 GFLOP/s, flat search 700 queries/s (one thread)" in board


def test_a_calibration_of_another_version_is_not_taken(isolated_cache):
    store("m", {"version": 0, "matmul_gflops": 1.0})
    assert cached("m") is None
