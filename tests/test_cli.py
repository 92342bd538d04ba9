"""The command line end to end, as a user types it."""

import json

import pytest
from typer.testing import CliRunner

from recbench.cli.app import app

runner = CliRunner()


@pytest.fixture()
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.integration
def test_run_on_lee_writes_a_record_and_report_renders_it(in_tmp):
    result = runner.invoke(app, ["run", "--model", "sif", "--dataset", "lee", "--n-bootstrap", "100",
                                 "--latency-queries", "10", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "done  sif x lee (test): pearson" in result.output
    records = list((in_tmp / "runs").glob("lee__sif__*.json"))
    assert len(records) == 1 and str(records[0].relative_to(in_tmp)) in result.output
    rec = json.loads(records[0].read_text())
    assert 30 < rec["metrics"]["pearson"]["value"] < 70  # SIF on Lee: ~50 (random would be ~0)

    result = runner.invoke(app, ["report"])
    assert result.exit_code == 0, result.output
    board = (in_tmp / "runs" / "leaderboard.md").read_text()
    assert "[lee (test)](leaderboard/lee__test.md)" in board and "`sif`" in board
    assert "`sif`" in (in_tmp / "runs" / "leaderboard" / "lee__test.md").read_text()


def test_unknown_model_and_dataset_get_suggestions(in_tmp):
    result = runner.invoke(app, ["run", "--model", "glove-average", "--dataset", "lee"])
    assert result.exit_code == 2 and "Did you mean 'glove-avg'" in result.output
    result = runner.invoke(app, ["run", "--model", "sif", "--dataset", "sts-16"])
    assert result.exit_code == 2 and "Did you mean 'sts16'" in result.output
    assert not (in_tmp / "runs").exists()


def test_an_option_no_model_takes_is_refused(in_tmp):
    result = runner.invoke(app, ["run", "--model", "glove-avg", "--dataset", "lee", "-o", "pc=reference"])
    assert result.exit_code == 2 and "option 'pc' is accepted by none of the models" in result.output


def test_missing_data_fails_the_cell_with_the_full_message(in_tmp, monkeypatch):
    monkeypatch.setenv("RECBENCH_DATA", str(in_tmp / "empty"))
    monkeypatch.setenv("RECBENCH_CACHE", str(in_tmp / "cache"))
    result = runner.invoke(app, ["run", "--model", "sif", "--dataset", "sts-b", "--no-progress"])
    assert result.exit_code == 1
    assert "dataset 'sts-b'" in result.output and str(in_tmp / "empty" / "sts" / "stsbenchmark") in result.output
    assert not list((in_tmp / "runs").glob("*.json")) if (in_tmp / "runs").exists() else True


def test_list_and_datasets_commands(in_tmp, real_data):
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "sif" in result.output and "sts-b" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80, result.output  # readable in 80 columns
    sif_row = next(line.split() for line in result.output.splitlines() if line.startswith("sif "))
    nrms_row = next(line.split() for line in result.output.splitlines() if line.startswith("nrms "))
    assert sif_row[1:] == ["yes"] * 4 and nrms_row[1:].count("yes") == 1  # nrms: impressions only
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if l.startswith("| sts-b"))
    assert "yes" in line and "Stsbenchmark.tar.gz" in line


def test_bracketed_text_in_help_survives_rich_markup():
    """Rich reads ``[...]`` as markup and drops it: the help must still show ``ndcg@10[cold]``
    (how to compare the cold targets) and the ``[ray]`` extra."""
    compare = runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "200"})
    run = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert "ndcg@10[cold]" in compare.output
    assert "[ray]" in run.output


def test_datasets_reports_wine_present_when_only_the_first_rows_file_is(in_tmp, monkeypatch):
    """The wine adapters accept the first-rows cut of the reviews; `recbench datasets` must say
    what a run would find (it once reported them absent)."""
    data = in_tmp / "data"
    (data / "wine").mkdir(parents=True)
    (data / "wine" / "winemag-data-130k-v2.first-rows.csv").write_text(
        ",country,description,designation,points,price,province,region_1,region_2,taster_name,"
        "taster_twitter_handle,title,variety,winery\n"
        "0,Italy,Aromas of fruit.,,87,,Sicily,Etna,,,,A wine,White Blend,Nicosia\n")
    monkeypatch.setenv("RECBENCH_DATA", str(data))
    monkeypatch.setenv("RECBENCH_CACHE", str(in_tmp / "cache"))  # no downloaded copy either
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0, result.output
    rows = {line.split("|")[1].strip(): line for line in result.output.splitlines() if line.startswith("| wine")}
    assert "yes" in rows["wine-similar"] and "yes" in rows["wine-tdm"] and str(data / "wine") in rows["wine-tdm"]
    assert "| no " in rows["wine-expert"]  # its annotation file is the user's to give
    (data / "wine" / "winemag-data-130k-v2.first-rows.csv").unlink()
    result = runner.invoke(app, ["datasets"])
    rows = {line.split("|")[1].strip(): line for line in result.output.splitlines() if line.startswith("| wine")}
    assert "| no " in rows["wine-similar"]


@pytest.mark.integration
def test_no_progress_means_no_bar_at_all_and_captured_output_gets_no_0_percent_lines(in_tmp):
    """A run's output in a log (no terminal): neither our bars nor the libraries' ("Loading
    weights") may print; with --no-progress not even on a terminal."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RECBENCH_CACHE": str(in_tmp / "cache")}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    out = subprocess.run([sys.executable, "-m", "recbench.cli", "run", "-m", "sbert", "-d", "lee", "--no-progress",
                          "--n-bootstrap", "20", "--latency-queries", "3"], env=env, cwd=in_tmp,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "done  sbert x lee" in text
    assert "Loading weights" not in text and "0%|" not in text and "it/s]" not in text, text
    out = subprocess.run([sys.executable, "-m", "recbench.cli", "run", "-m", "sbert", "-d", "lee", "--rerun",
                          "--n-bootstrap", "20", "--latency-queries", "3"], env=env, cwd=in_tmp,
                         capture_output=True, text=True, timeout=600)  # bars asked for, but no terminal
    assert out.returncode == 0, out.stderr
    assert "0%|" not in out.stdout + out.stderr and "encode sbert" not in out.stdout + out.stderr


def test_every_command_has_a_one_line_summary_in_the_command_list():
    """The top-level help lists each command by a summary that reads as one sentence (a docstring
    with hard line breaks used to wrap mid-sentence there)."""
    import typer

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        summary = command.short_help or (command.help or "").strip().split("\n\n")[0]
        assert "\n" not in summary.strip() and len(summary) <= 110, (name, summary)
    listing = runner.invoke(app, ["--help"], env={"COLUMNS": "80"}).output
    assert "in shards over\n" not in listing and "Encode datasets' item catalogs" in listing


def test_report_budget_prints_the_view_and_refuses_a_bad_budget(in_tmp):
    import json
    import shutil
    from pathlib import Path

    committed = Path(__file__).resolve().parent.parent / "results"
    sample = next(committed.glob("lee__sif__*.json"))  # a committed record of the leaderboard
    runs = in_tmp / "runs"
    runs.mkdir()
    shutil.copy(sample, runs / sample.name)
    value = json.loads(sample.read_text())["metrics"]["pearson"]["value"]
    result = runner.invoke(app, ["report", "--results-dir", str(runs), "--budget", "p99=1000ms"])
    assert result.exit_code == 0, result.output
    assert "budget: p99 ≤ 1000 ms" in result.output and f"{value:.4f}" in result.output
    assert not (runs / "leaderboard.md").exists()  # the view only prints
    result = runner.invoke(app, ["report", "--results-dir", str(runs), "--site", str(in_tmp / "site")])
    assert result.exit_code == 0, result.output
    assert (in_tmp / "site" / "index.html").is_file() and (in_tmp / "site" / "assets" / "plotly-basic.min.js").is_file()
    assert (in_tmp / "site" / "records" / sample.name).is_file()
    empty = in_tmp / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["report", "--results-dir", str(empty), "--site", str(in_tmp / "site2")])
    assert result.exit_code != 0 and "no run records" in result.output and not (in_tmp / "site2").exists()
    result = runner.invoke(app, ["report", "--results-dir", str(runs), "--budget", "p99=quick"])
    assert result.exit_code != 0 and "not a number" in result.output
    result = runner.invoke(app, ["report", "--results-dir", str(runs), "--machine", "quantum"])
    assert result.exit_code != 0 and "--machine 'quantum'" in result.output and "its machines:" in result.output
