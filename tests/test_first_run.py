"""A newcomer's first run runs: the project's committed records (results/) are not the user's."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from recbench.protocol.settings import EvalSettings
from recbench.run.runner import run_cell
from recbench.cli.app import app

QUICK = ["--n-bootstrap", "20", "--latency-queries", "3", "--offline-texts", "0", "--no-isolate", "--no-progress"]


def test_the_readme_first_run_runs_beside_committed_records_and_a_resumed_cell_prints_its_figure(
        tmp_path, monkeypatch, real_data):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECBENCH_RESULTS", raising=False)
    settings = EvalSettings(n_bootstrap=20, latency_queries=3, offline_texts=0, progress=False)
    committed = run_cell("random", "lee", settings=settings, results_dir=tmp_path / "results").record
    runner = CliRunner()
    first = runner.invoke(app, ["run", "--model", "random", "--dataset", "lee", *QUICK])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("done  random x lee"), first.output  # ran, though results/ has this cell
    (mine,) = (tmp_path / "runs").glob("lee__random__*.json")
    record = json.loads(mine.read_text())
    assert record["cell_key"] == committed["cell_key"]
    again = runner.invoke(app, ["run", "--model", "random", "--dataset", "lee", *QUICK])
    value = record["metrics"]["pearson"]["value"]
    assert "skip  random x lee: recorded before" in again.output and f"pearson {value:.2f}" in again.output
    assert len(list((tmp_path / "runs").glob("*.json"))) == 1

    shown = runner.invoke(app, ["report"])  # the user's own leaderboard, beside their runs
    assert shown.exit_code == 0, shown.output
    assert (tmp_path / "runs" / "leaderboard.md").is_file() and not (tmp_path / "leaderboard.md").exists()
    monkeypatch.setenv("RECBENCH_RESULTS", str(tmp_path / "elsewhere"))
    missing = runner.invoke(app, ["report"])
    assert missing.exit_code == 2 and "elsewhere" in missing.output and "does not exist" in missing.output
