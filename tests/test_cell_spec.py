"""A cell written once, as data (issue 36): the command line, suite files, records, `verify` and
the site's command lines all go through one CellSpec, and each reading of it names the same cell."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recbench.cli import app
from recbench.results.cell_spec import CellSpec, CellSpecError, Matrix
from recbench.results.commands import command_line
from recbench.run.cells import Cell

RESULTS = Path(__file__).resolve().parent.parent / "results"
COMMITTED = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]


def test_a_spec_round_trips_through_its_dict_and_refuses_a_wrong_field_by_name():
    spec = CellSpec.from_dict({"model": "sif", "dataset": "ml100k-mix", "options": {"pc": "reference"},
                               "settings": {"pooling": "topk", "topk": 5, "n_bootstrap": 1000},
                               "training": {"budget": "40steps"}})
    assert spec.settings == {"pooling": "topk", "topk": 5}  # a default is not part of what the cell is
    assert CellSpec.from_dict(spec.to_dict()) == spec
    for bad, field in [({"dataset": "lee"}, "no 'model'"), ({"model": "a", "dataset": "b", "opts": {}}, "unknown field 'opts'"),
                       ({"model": "a", "dataset": "b", "settings": {"topk": "3"}}, r"settings.topk must be a int"),
                       ({"model": "a", "dataset": "b", "training": {"steps": 3}}, "training: unknown field 'steps'")]:
        with pytest.raises(CellSpecError, match=field):
            CellSpec.from_dict(bad)


def test_every_committed_record_rebuilds_its_own_cell():
    """The record's cell section read as a CellSpec resolves to the cell its key names, and the cell
    read back as data is that spec: one spelling of a cell, every way round."""
    assert len(COMMITTED) > 300
    for record in COMMITTED:
        spec = CellSpec.from_record(record)
        cell = Cell.from_spec(spec, progress=False)
        assert cell.key == record["cell"]["key"], record["run_id"]
        assert cell.spec() == spec


def test_the_command_line_of_every_committed_record_asks_for_the_same_cell(monkeypatch):
    """What the site prints beside a row, given to `recbench run --dry-run`, resolves to the record's
    cell key (a single training seed is said as --train-seed: `--train-seeds 3` would mean seeds 0-2);
    a tuned row's `recbench tune` line asks the same search (the same tuning id)."""
    import recbench.run.tuning as tuning

    asked = []
    monkeypatch.setattr(tuning, "run_search", lambda search, *a, **k: asked.append(search.tuning_id))
    runner = CliRunner()
    for record in COMMITTED:
        line = command_line(record)
        if (record["cell"].get("training") or {}).get("tuned"):
            assert shlex.split(line)[:2] == ["recbench", "tune"], line
            out = runner.invoke(app, shlex.split(line)[1:])
            assert out.exit_code == 0, (line, out.output)
            assert asked[-1] == record["details"]["tuning"]["id"], line
            continue
        argv = shlex.split(line)[2:]
        out = runner.invoke(app, ["run", *argv, "--dry-run"])
        assert out.exit_code == 0, (line, out.output)
        keys = re.findall(r"^cell  ([0-9a-f]{12})", out.output, flags=re.M)
        assert keys == [record["cell"]["key"]], (line, out.output)


def test_a_matrix_is_the_grid_the_flags_ask_for(tmp_path):
    suite = tmp_path / "grid.toml"
    suite.write_text('name = "grid"\n[[matrix]]\nmodels = ["random", "sif", "sasrec"]\ndatasets = ["lee", "ml100k"]\n'
                     'seeds = [0, 1, 2]\ntraining = { budget = "40steps" }\nsettings = { latency_queries = 20 }\n')
    runner = CliRunner()
    by_suite = runner.invoke(app, ["run", "--suite", str(suite), "--dry-run"])
    by_flags = runner.invoke(app, ["run", "-m", "random,sif,sasrec", "-d", "lee,ml100k", "--train-seeds", "3",
                                   "--train-budget", "40steps", "--latency-queries", "20", "--dry-run"])
    assert by_suite.exit_code == by_flags.exit_code == 0
    assert by_suite.output == by_flags.output
    assert "dry run: 7 cell(s)" in by_suite.output  # sasrec 3 seeds on ml100k; no seeds for untrained rows


def test_one_seed_of_a_trained_row_is_said_as_that_seed():
    record = {"cell": {"model": "sasrec", "dataset": "ml100k", "split": "test", "training": {"budget": "40steps", "seed": 3}}}
    assert command_line(record).endswith("--train-budget 40steps --train-seed 3")
    assert command_line(record, seeds=[0, 1, 2]).endswith("--train-seeds 0,1,2")


def test_a_matrix_refuses_a_wrong_field_by_name():
    with pytest.raises(CellSpecError, match=r"matrix.models must be a non-empty list"):
        Matrix.from_dict({"models": [], "datasets": ["lee"]})
    with pytest.raises(CellSpecError, match=r"matrix.seeds must be a non-empty list of distinct"):
        Matrix.from_dict({"models": ["a"], "datasets": ["lee"], "seeds": [1, 1]})


@pytest.mark.usefixtures("real_data")
def test_a_suite_run_names_its_suite_in_every_record(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\n[[cells]]\nmodel = "random"\ndataset = "lee"\nsettings = { latency_queries = 2, n_bootstrap = 20 }\n')
    out = CliRunner().invoke(app, ["run", "--suite", str(suite), "--results-dir", str(tmp_path / "runs"), "--no-progress",
                                   "--no-isolate"])
    assert out.exit_code == 0, out.output
    (record_path,) = (tmp_path / "runs").glob("*.json")
    record = json.loads(record_path.read_text())
    import hashlib

    assert record["suite"] == {"name": "tiny", "sha256": hashlib.sha256(suite.read_bytes()).hexdigest()}
    assert CellSpec.from_record(record) == CellSpec("random", "lee", "test", settings={"latency_queries": 2, "n_bootstrap": 20})


def test_a_moved_baseline_keeps_the_identity_its_caches_and_checkpoints_are_keyed_by():
    from recbench.baselines.sequential.sasrec import SASRec
    from recbench.protocol.cache import identity_module

    assert identity_module(SASRec) == "recbench.baselines.sasrec"
    assert identity_module(Cell) == "recbench.run.cells"


def test_the_named_suites_declare_every_cell_of_the_committed_board():
    """`recbench run --suite S` for each suite in suites/ rebuilds the board: no committed record's
    cell is declared nowhere (suites/board.toml is regenerated by benchmarks/board_suite.py)."""
    from recbench.run.cells import plan_specs
    from recbench.run.suites import load_suite

    declared: dict[str, str] = {}
    for path in sorted((RESULTS.parent / "suites").glob("*.toml")):
        suite = load_suite(path)
        cells, skipped = plan_specs(suite.specs(), progress=False)
        assert not skipped, (path.name, skipped)
        declared.update({c.key: suite.name for c in cells})
    missing = sorted({r["cell"]["key"] for r in COMMITTED} - set(declared))
    assert missing == []
    assert {"seed-reruns", "cold-items", "representations", "joint-scorers", "board"} <= set(declared.values())


def test_server_mlperf_takes_mlperfs_minimums_unless_the_probe_length_is_said():
    """`--server-mlperf` alone: 600 s and 270,336 queries a probe (MLPerf's rules); a loadgen row
    timed at our probe length says its length outright, and its command line must too."""
    runner = CliRunner()

    def keys(*flags: str) -> list[str]:
        out = runner.invoke(app, ["run", "-m", "sif", "-d", "sts-b", "--server-p99-ms", "50", *flags, "--dry-run"])
        assert out.exit_code == 0, out.output
        return re.findall(r"^cell  ([0-9a-f]{12})", out.output, flags=re.M)

    mlperf = Cell.resolve("sif", "sts-b", settings=CellSpec.from_dict({"model": "sif", "dataset": "sts-b", "settings": {
        "server_p99_ms": 50.0, "server_loadgen": True, "server_seconds": 600.0, "server_min_queries": 270_336}}
    ).eval_settings())
    short = CellSpec.from_dict({"model": "sif", "dataset": "sts-b", "settings": {"server_p99_ms": 50.0,
                                                                                 "server_loadgen": True}})
    assert keys("--server-mlperf") == [mlperf.key]
    assert keys(*shlex.split(short.command_line())[6:]) == [Cell.from_spec(short, progress=False).key] != [mlperf.key]
