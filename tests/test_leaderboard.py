import pytest
"""Leaderboard features: Pareto frontier, plots, summary, formats, the results DataFrame,
`recbench compare` and `recbench check`."""

import json

import numpy as np
from typer.testing import CliRunner

from recbench.protocol.settings import EvalSettings
from recbench.results.rows import pareto_frontier
from recbench.report.leaderboard import write_report
from recbench.run.runner import run_cell
from recbench.cli.app import app

pytestmark = pytest.mark.integration  # model weights, training or a process per cell


FAST = EvalSettings(n_bootstrap=50, latency_queries=5, progress=False)
runner = CliRunner()


def test_pareto_frontier():
    lat = np.array([1.0, 2.0, 3.0, 0.5, 2.0, np.nan])
    q = np.array([0.5, 0.7, 0.6, 0.2, 0.7, 0.9])
    # (3.0, 0.6) is dominated by (2.0, 0.7); the two (2.0, 0.7) rows tie and both stay
    assert pareto_frontier(lat, q).tolist() == [True, True, False, True, True, False]


def test_report_plots_summary_formats_and_dataframe(tmp_path):
    res = tmp_path / "results"
    for m in ("random", "glove-avg", "sif"):
        run_cell(m, "lee", settings=FAST, results_dir=res)
    out = write_report(res, tmp_path / "leaderboard.md", "md", res / "plots")
    board = out.read_text()
    assert "## Summary per task kind" in board and "★" in board and "(leaderboard/lee__test.md)" in board
    lee = (tmp_path / "leaderboard" / "lee__test.md").read_text()  # the full table: the dataset's page
    assert (res / "plots" / "lee__test.png").is_file() and "(../results/plots/lee__test.png)" in lee
    sif_row = next(line for line in lee.splitlines() if "`sif`" in line and "|" in line)
    assert "★" in sif_row  # the best on Lee is on the frontier by definition
    import recbench.results

    df = recbench.results.load(res)
    assert set(df["model"]) == {"random", "glove-avg", "sif"} and df["value"].notna().all()
    csv = write_report(res, tmp_path / "board.csv", "csv").read_text()
    assert csv.splitlines()[0].startswith("dataset,split,kind,model")
    rows = json.loads(write_report(res, tmp_path / "board.json", "json").read_text())
    assert len(rows) == 3


def test_compare_two_real_runs(tmp_path):
    res = tmp_path / "results"
    a = run_cell("random", "lee", settings=FAST, results_dir=res).path
    b = run_cell("sif", "lee", settings=FAST, results_dir=res).path
    result = runner.invoke(app, ["compare", str(a), str(b), "--metric", "pearson", "--json"])
    assert result.exit_code == 0, result.output
    c = json.loads(result.output)
    assert c["shared_queries"] == 1225 and c["difference"] > 30 and c["p_value"] < 0.01
    assert c["ci_low"] < c["difference"] < c["ci_high"]
    by_name = runner.invoke(app, ["compare", a.name, b.stem, "--metric", "pearson", "--json", "--results-dir", str(res)])
    assert by_name.exit_code == 0, by_name.output  # a file name as `ls` prints it, or without .json
    assert json.loads(by_name.output)["difference"] == c["difference"]


def test_check_fails_with_its_table_on_a_wrong_expected_value(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    good = run_cell("random", "lee", settings=FAST, results_dir=None).record["metrics"]["pearson"]["value"]
    suite = tmp_path / "suite.toml"

    def write(expected: float) -> None:
        suite.write_text('name = "t"\n[defaults.settings]\nn_bootstrap = 20\nlatency_queries = 3\n[[cells]]\n'
                         f'model = "random"\ndataset = "lee"\nexpected = {{ pearson = {{ value = {expected!r}, '
                         'tolerance = 0.01 } }\n')

    write(good)
    ok = runner.invoke(app, ["check", "--suite", str(suite)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip().splitlines()[-1] == "check: 1 passed, 0 failed"
    write(good + 5.0)  # a deliberately wrong value
    updated = runner.invoke(app, ["check", "--suite", str(suite), "--update"])  # --update writes the measured value
    assert updated.exit_code == 0, updated.output
    import tomllib

    assert tomllib.loads(suite.read_text())["cells"][0]["expected"]["pearson"]["value"] == pytest.approx(good, abs=1e-6)
    write(good + 5.0)
    bad = runner.invoke(app, ["check", "--suite", str(suite)])
    assert bad.exit_code == 1
    assert "check: 0 passed, 1 failed" in bad.output
    assert "| cell" in bad.output and "REGRESSION" in bad.output and "random x lee" in bad.output
    assert f"{good + 5.0:.4f}" in bad.output and f"{good:.4f}" in bad.output and "±0.01" in bad.output
