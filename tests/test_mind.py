"""MIND's format: the reader on closed fixtures and on the real sample, with every anomaly counted."""

import pytest
from typer.testing import CliRunner

from mind_fixture import DEV, write_mind, write_split
from recbench.protocol.data import DataLocator
from recbench.cli.app import app
from recbench.datasets._parsing import DataFormatError
from recbench.datasets.mind import MindSmall, build_task


def test_closed_fixture_reads_into_columnar_impressions(tmp_path):
    write_mind(tmp_path)
    task = MindSmall(name="mind-small", locator=DataLocator(data_dir=tmp_path)).load()
    imps = task.test
    assert len(imps) == 5 and task.train is not None and len(task.train) == 3
    assert [task.item_ids[r] for r in imps.history_of(0)] == ["N1", "N2", "N7"]
    assert [task.item_ids[r] for r in imps.candidates_of(0)] == ["N3", "N6", "N1", "N4"]
    assert imps.labels[imps.candidate_offsets[0]:imps.candidate_offsets[1]].tolist() == [0, 0, 1, 0]
    info = task.info["test"]
    assert info["empty_histories"] == 1 and info["impressions_one_label_class"] == 1
    assert info["missing_history_ids"] == 0 and info["missing_candidate_ids"] == 0
    assert task.item_texts(("title",))[0] == "Team wins the football final"
    assert task.item_texts(("title", "category"))[0] == "Team wins the football final. sports"


def test_missing_ids_stop_with_counts_or_are_dropped_and_counted(tmp_path):
    dev = list(DEV) + [("15", "U5", "11/15/2019 8:05:00 AM", "N1 N99", "N98-1 N2-0")]
    write_split(tmp_path / "dev", dev)
    with pytest.raises(DataFormatError) as err:
        build_task("m", "dev", tmp_path / "dev", None, "error")
    msg = str(err.value)
    assert "1 history and 1 candidate references (2 distinct ids" in msg and "on_missing=drop" in msg
    assert "first on line 6" in msg
    task = build_task("m", "dev", tmp_path / "dev", None, "drop")
    info = task.info["test"]
    assert info["missing_history_ids"] == 1 and info["missing_candidate_ids"] == 1
    last = len(task.test) - 1
    assert [task.item_ids[r] for r in task.test.history_of(last)] == ["N1"]
    assert [task.item_ids[r] for r in task.test.candidates_of(last)] == ["N2"]


def test_a_malformed_label_names_file_and_line(tmp_path):
    dev = list(DEV[:2]) + [("12", "U3", "t", "N5", "N6-1 N123-2")]
    write_split(tmp_path / "dev", dev)
    with pytest.raises(DataFormatError, match=r"behaviors.tsv:3: impression token 'N123-2' is not ID-0 or ID-1"):
        build_task("m", "dev", tmp_path / "dev", None, "error")


def test_a_short_row_names_file_and_line(tmp_path):
    write_split(tmp_path / "dev", DEV[:2])
    with open(tmp_path / "dev" / "behaviors.tsv", "a") as f:
        f.write("12\tU3\t11/15/2019\n")
    with pytest.raises(DataFormatError, match=r"behaviors.tsv:3: 3 tab-separated field\(s\)"):
        build_task("m", "dev", tmp_path / "dev", None, "error")


def test_missing_mind_names_the_zip_and_where_to_unpack_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_DATA", str(tmp_path / "data"))
    locator = DataLocator(cache_dir=tmp_path / "cache", allow_download=False)
    with pytest.raises(FileNotFoundError) as err:
        MindSmall(name="mind-small", locator=locator).load()
    msg = str(err.value)
    assert "MINDsmall_dev.zip" in msg and "msnews.github.io" in msg and "mind/MINDsmall_dev/" in msg


def test_the_real_sample_reports_its_missing_ids(real_data):
    sample = real_data / "mind" / "MINDsmall_train.sample"
    with pytest.raises(DataFormatError, match=r"153,641 history and 184,049 candidate references"):
        build_task("sample", "dev", sample, None, "error")
    task = build_task("sample", "dev", sample, None, "drop")
    info = task.info["test"]
    assert info["impressions_read"] == 5000
    assert info["impressions_dropped_no_candidates"] + len(task.test) == 5000
    assert task.test.candidates.min() >= 0 and task.test.history.min() >= 0


def test_cli_runs_sif_on_a_mind_folder(tmp_path, monkeypatch):
    write_mind(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["run", "--model", "sif,popularity", "--dataset", "mind-small", "--data-dir",
                                      str(tmp_path / "data"), "--no-progress", "--no-isolate", "--n-bootstrap", "50"])
    assert result.exit_code == 0, result.output
    assert "done  sif x mind-small (dev): auc" in result.output
    assert "done  popularity x mind-small (dev): auc" in result.output
