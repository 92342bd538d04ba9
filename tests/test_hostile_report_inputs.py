"""`recbench report` and its inputs as a careless or hostile user gives them (issue 34): a record
that is not UTF-8, nested too deeply, names a primary metric it lacks, or whose interval is
disordered or misses its value is skipped with a warning naming it, and the report is written;
`--out` naming a folder or a missing folder is an error before anything is written, leaving no
temp file; an empty folder with `--budget` is an error; a budget unit of another quantity is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minimal_record import minimal_record
from recbench.report.budget import BudgetError, parse_budget
from recbench.results.records import RecordError, iter_records, write_record
from recbench.cli.app import app


def folder_with_one_good_record(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    write_record(minimal_record(), runs)
    return runs


def forged(change) -> dict:
    record = minimal_record("20260101T000000Z-bbbbbb")
    change(record)
    return record


BAD = {
    "not-utf8.json": b"\xff\xfe{\"schema_version\": 2}",
    "nested.json": b"[" * 100_000 + b"]" * 100_000,
    "no-primary.json": json.dumps(forged(lambda r: r.update(primary_metric="auc"))).encode(),
    "low-above-high.json": json.dumps(forged(lambda r: r["metrics"]["pearson"].update(ci_low=70.0, ci_high=50.0))).encode(),
    "value-outside.json": json.dumps(forged(lambda r: r["metrics"]["pearson"].update(value=99.0))).encode(),
}
WHY = {"not-utf8.json": "not a readable run record", "nested.json": "nested too deeply",
       "no-primary.json": "primary_metric 'auc' is not among its metrics", "low-above-high.json": "above ci_high",
       "value-outside.json": "outside its interval"}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_record_is_skipped_naming_it_and_the_report_is_written(tmp_path, name):
    runs = folder_with_one_good_record(tmp_path)
    (runs / name).write_bytes(BAD[name])
    skipped: list = []
    with pytest.warns(UserWarning, match=name):
        good = list(iter_records(runs, skipped))
    assert len(good) == 1 and WHY[name] in skipped[0][1]
    result = CliRunner().invoke(app, ["report", "--results-dir", str(runs), "--out", str(tmp_path / "lb.md")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lb.md").is_file()


def test_a_record_breaking_its_own_invariants_is_never_written(tmp_path):
    with pytest.raises(RecordError, match="outside its interval"):
        write_record(forged(lambda r: r["metrics"]["pearson"].update(value=99.0)), tmp_path / "runs")
    assert not list((tmp_path / "runs").glob("*"))


@pytest.mark.parametrize("out,why", [("a-folder", "is a folder"), ("missing/lb.md", "does not exist")])
def test_out_naming_a_folder_or_a_missing_one_fails_before_writing(tmp_path, out, why):
    runs = folder_with_one_good_record(tmp_path)
    (tmp_path / "a-folder").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = CliRunner().invoke(app, ["report", "--results-dir", str(runs), "--out", str(tmp_path / out)])
    assert result.exit_code == 2 and why in result.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no temp file, no plots


def test_an_empty_folder_with_a_budget_is_an_error(tmp_path):
    (tmp_path / "runs").mkdir()
    result = CliRunner().invoke(app, ["report", "--results-dir", str(tmp_path / "runs"), "--budget", "p99=5ms"])
    assert result.exit_code == 2 and "no run records" in result.output


@pytest.mark.parametrize("budget", ["p99=5kb", "bytes=5ms", "qps=3mb", "params=2ms", "train=5kb"])
def test_a_unit_of_another_quantity_is_refused(budget):
    with pytest.raises(BudgetError, match="is not a unit of"):
        parse_budget(budget)


def test_units_scale_to_each_quantitys_own_unit():
    assert parse_budget("train=30s")[0].bound == pytest.approx(0.5)  # minutes, not 30,000
    assert parse_budget("train=2h")[0].bound == 120.0
    assert parse_budget("params=22m")[0].bound == 22e6
    assert parse_budget("p99=0.5s")[0].bound == 500.0


@pytest.mark.parametrize("flag,value", [("--window", "0"), ("--window", "-3"), ("--negatives", "0"),
                                        ("--max-history", "0"), ("--seed", "-1")])
def test_build_impressions_refuses_a_recipe_that_cannot_work_before_reading_anything(tmp_path, flag, value):
    """--window 0 looped for ever (the exhausted window never widened); -3 raised a traceback."""
    result = CliRunner().invoke(app, ["datasets", "build-impressions", "no-such-source", "--out", str(tmp_path / "o"),
                                      flag, value])
    assert result.exit_code == 2 and f"{flag} must be a whole number of at least" in result.output
    assert not (tmp_path / "o").exists()


def test_a_dataset_option_window_of_zero_is_refused_naming_it():
    from recbench.datasets.mix import MixRecipe

    with pytest.raises(ValueError, match="window must be a whole number of at least 1, not 0"):
        MixRecipe(window=0)


def test_report_lists_its_folder_once_so_a_run_writing_beside_it_cannot_split_it(tmp_path, monkeypatch):
    """A record written between two listings of the folder made the report's two views of it
    disagree (a KeyError). The folder is read once, and a report beside a writing run completes."""
    import threading

    import recbench.report.leaderboard as report

    runs = folder_with_one_good_record(tmp_path)
    listings = []
    real = report.iter_records

    def counted(*args, **kwargs):
        listings.append(args)
        yield from real(*args, **kwargs)

    monkeypatch.setattr(report, "iter_records", counted)
    report.render_markdown(runs, None, tmp_path, significance=False)
    assert len(listings) == 1
    monkeypatch.setattr(report, "iter_records", real)

    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set() and i < 200:
            rec = minimal_record(f"20260101T0000{i // 60:02d}Z-{i:06x}")
            rec["model"]["label"] = rec["cell_key"] = f"m{i}"
            write_record(rec, runs)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(5):
            report.render_markdown(runs, None, tmp_path, significance=False)
    finally:
        stop.set()
        thread.join()
