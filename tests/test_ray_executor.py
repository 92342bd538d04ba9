"""--executor ray on a local Ray instance: the same figures as the local executor, the same
resume / failure / Ctrl-C semantics, one writer, and each record naming the node that ran it."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from recbench.run.cells import Cell
from recbench.protocol.settings import EvalSettings
from recbench.run.grid import GridInterrupted, run_grid
from recbench.results.records import iter_records

ray = pytest.importorskip("ray")

FAST = EvalSettings(n_bootstrap=50, latency_queries=3, offline_texts=0, progress=False, use_cache=False)


def cells(models, datasets, settings=FAST):
    return [Cell.resolve(m, d, settings=settings) for d in datasets for m in models]


def by_key(folder):
    return {rec["cell_key"]: (path, rec) for path, rec in iter_records(folder)}


@pytest.mark.usefixtures("real_data", "local_ray")
def test_ray_and_local_executors_give_identical_figures_and_ray_resumes(tmp_path):
    grid = cells(["random", "sif"], ["lee", "sts-b"])
    local = run_grid(grid, results_dir=tmp_path / "local", isolate=True)
    on_ray = run_grid(grid, results_dir=tmp_path / "ray", executor="ray")
    assert local.done == on_ray.done == 4, [o.message for o in on_ray.outcomes]
    a, b = by_key(tmp_path / "local"), by_key(tmp_path / "ray")
    assert a.keys() == b.keys()
    for key, (path, rec) in b.items():
        assert rec["metrics"] == a[key][1]["metrics"]  # values, intervals, p-values: all equal
        assert rec["executor"]["name"] == "ray" and rec["executor"]["node"]
        assert rec["environment"]["fingerprint"] == a[key][1]["environment"]["fingerprint"]  # read on the node
        assert path.with_suffix(".queries.npz").is_file()
        assert "executor" not in a[key][1]

    again = run_grid(grid + grid[:1], results_dir=tmp_path / "ray", executor="ray")  # all recorded; one twice
    assert (again.done, again.skipped, again.failed) == (0, 5, 0)
    assert all(o.record is not None for o in again.outcomes)  # a skipped cell carries its figure


@pytest.mark.usefixtures("real_data", "local_ray")
def test_a_failing_cell_on_ray_is_reported_and_the_others_are_written(tmp_path):
    flat = tmp_path / "flat.csv"
    flat.write_text("sentence1,sentence2,score\na cat,a dog,3\ntea,stocks fell,3\nhi,hello,3\n")
    grid = cells(["random"], [f"pairs:{flat}", "lee"])
    counts = run_grid(grid, results_dir=tmp_path / "r", executor="ray")
    assert (counts.done, counts.failed) == (1, 1)
    (failed,) = [o for o in counts.outcomes if o.status == "error"]
    assert "no variance in the gold" in failed.message and failed.cell.dataset == f"pairs:{flat}"
    assert [rec["dataset"]["name"] for _, rec in iter_records(tmp_path / "r")] == ["lee"]


@pytest.mark.usefixtures("real_data", "local_ray")
def test_ctrl_c_cancels_the_queued_cells_and_leaves_no_half_record(tmp_path):
    grid = cells(["random", "glove-avg", "sif"], ["lee", "sts-b"])

    def interrupt(outcome):
        raise KeyboardInterrupt

    with pytest.raises(GridInterrupted) as stop:
        run_grid(grid, results_dir=tmp_path, executor="ray", on_outcome=interrupt)
    assert stop.value.counts.done == 1 and stop.value.left == len(grid) - 1
    time.sleep(3)  # a cancelled task that kept running could not write: only the driver writes
    records = list(tmp_path.glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["metrics"]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_cell_declares_its_pinned_threads_else_a_whole_node():
    from recbench.run.ray_executor import cell_cpus

    pinned, free = cells(["sif"], ["lee"], replace(FAST, threads=1))[0], cells(["sif"], ["lee"])[0]
    assert cell_cpus(pinned, [4, 8]) == 1
    assert cell_cpus(free, [4, 8]) == 4


@pytest.mark.usefixtures("real_data", "local_ray")
def test_a_cell_pinned_to_more_threads_than_any_node_fails_clearly(tmp_path):
    counts = run_grid(cells(["random"], ["lee"], replace(FAST, threads=64)), results_dir=tmp_path, executor="ray")
    assert counts.failed == 1 and "pins 64 threads but the largest Ray node has 2 CPUs" in counts.outcomes[0].message


def test_an_unknown_executor_is_an_error():
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        run_grid([], executor="dask")


@pytest.mark.usefixtures("real_data", "local_ray")
def test_the_command_line_runs_cells_and_fills_the_cache_on_ray(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from recbench.cli.app import app

    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    ran = runner.invoke(app, ["run", "--model", "random", "--dataset", "lee", "--executor", "ray", "--results-dir",
                              str(tmp_path / "r"), "--n-bootstrap", "20", "--latency-queries", "2", "--no-progress"])
    assert ran.exit_code == 0 and "done  random x lee (test): pearson" in ran.output, ran.output
    filled = runner.invoke(app, ["encode", "--model", "glove-avg", "--dataset", "ml100k,lee", "--executor", "ray",
                                 "--workers", "2", "--shard-size", "500", "--no-progress"])
    assert filled.exit_code == 0, filled.output
    assert "encoded 1,664 distinct texts in 4 shards with 2 worker(s)" in filled.output  # 18 titles repeat
    assert "ml100k (sequences): 1,682 items cached" in filled.output and "lee" not in filled.output.split("\n", 1)[1]
    wrong = runner.invoke(app, ["run", "--model", "random", "--dataset", "lee", "--address", "10.0.0.1:6379"])
    assert wrong.exit_code == 2 and "--address names a Ray cluster; add --executor ray" in wrong.output


def test_without_ray_the_ray_executor_says_how_to_install_it(monkeypatch):
    import sys

    from recbench.run.ray_executor import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[ray\]'"):
        require_ray()
