"""One file in a results folder never decides for all (issue 19): temp files of an interrupted
write are not records, an unreadable record is skipped and named, an unwritable folder is found
before any cell runs."""

from __future__ import annotations

import json
import os
import time

import pytest

from recbench.results.records import RecordError, check_writable, iter_records, remove_stale_temps, write_record

from minimal_record import minimal_record


def record(run_id="20260101T000000Z-aaaaaa"):
    return minimal_record(run_id)


def test_a_record_that_breaks_the_schema_is_never_written_nor_read(tmp_path):
    bad = record()
    del bad["metrics"]["pearson"]["ci_low"]
    with pytest.raises(RecordError, match="field metrics/pearson: 'ci_low' is a required property"):
        write_record(bad, tmp_path)
    assert not list(tmp_path.iterdir())
    (tmp_path / "no-model.json").write_text(json.dumps({k: v for k, v in record().items() if k != "model"}))
    skipped: list = []
    with pytest.warns(UserWarning, match="skipping a record"):
        assert list(iter_records(tmp_path, skipped)) == []
    assert "'model' is a required property" in skipped[0][1]


def test_every_committed_record_keeps_the_schema():
    from pathlib import Path

    from recbench.results.records import read_record

    committed = sorted((Path(__file__).resolve().parent.parent / "results").glob("*.json"))
    assert committed, "the project's records are missing"
    for path in committed:
        read_record(path)  # raises RecordError naming the file and field


def test_temp_files_are_never_records_and_bad_files_are_skipped_by_name(tmp_path):
    good = write_record(record(), tmp_path)
    (tmp_path / ".tmp-abc.json").write_text(json.dumps(record("20260101T000000Z-bbbbbb")))  # a kill mid-write
    (tmp_path / "truncated.json").write_text('{"schema_version": 2, "run_')
    (tmp_path / "future.json").write_text(json.dumps({**record(), "schema_version": 99}))
    (tmp_path / "other.json").write_text("[1, 2]")
    skipped: list = []
    with pytest.warns(UserWarning, match="skipping a record"):
        found = list(iter_records(tmp_path, skipped))
    assert [p for p, _ in found] == [good]
    reasons = {p.name: why for p, why in skipped}
    assert set(reasons) == {"truncated.json", "future.json", "other.json"}
    assert "newer than this recbench understands" in reasons["future.json"]


def test_the_report_leaves_unreadable_files_out_and_says_how_many(tmp_path):
    from recbench.report.leaderboard import render_markdown

    (tmp_path / "broken.json").write_text("{")
    with pytest.warns(UserWarning):
        text = render_markdown(tmp_path, None)
    assert "1 file(s)" in text and "`broken.json`" in text


def test_stale_temp_files_are_cleaned_and_fresh_ones_left_to_their_writer(tmp_path):
    old, fresh = tmp_path / ".tmp-old.json", tmp_path / ".tmp-fresh.json"
    old.write_text("{}")
    fresh.write_text("{}")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert remove_stale_temps(tmp_path) == [old] and fresh.exists()


def test_an_unwritable_results_folder_is_found_before_anything_runs(tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(RecordError, match="is a file, not a folder"):
        check_writable(afile)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        with pytest.raises(RecordError, match="cannot be written"):
            check_writable(locked)
    from typer.testing import CliRunner

    from recbench.cli.app import app

    result = CliRunner().invoke(app, ["run", "-m", "random", "-d", "lee", "--results-dir", str(afile), "--no-progress"])
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
