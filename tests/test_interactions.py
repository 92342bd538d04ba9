"""Any interaction log as a dataset: interactions.csv + items.csv, as sequences and as Mix
impressions, equal to the built-in adapters on a real log converted by the documented pandas."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from recbench.protocol.settings import EvalSettings
from recbench.run.runner import build_dataset, run_cell
from recbench.protocol.data import DataLocator
from recbench.cli.app import app
from recbench.datasets._parsing import DataFormatError

FAST = EvalSettings(n_bootstrap=30, latency_queries=3, offline_texts=0, progress=False, use_cache=False)


def convert_movielens(src, out):
    """The README's conversion of MovieLens-100K (RecBole's atomic files) to the plain layout."""
    out.mkdir()
    inter = pd.read_csv(src / "ml-100k.inter", sep="\t")
    inter.columns = ["user", "item", "rating", "timestamp"]
    inter[["user", "item", "timestamp", "rating"]].to_csv(out / "interactions.csv", index=False)
    items = pd.read_csv(src / "ml-100k.item", sep="\t", dtype=str, keep_default_na=False)
    pd.DataFrame({"item": items["item_id:token"], "title": items["movie_title:token_seq"],
                  "year": items["release_year:token"],
                  "genres": items["class:token_seq"].str.replace(" ", ", ")}).to_csv(out / "items.csv", index=False)


@pytest.fixture(scope="module")
def movielens_log(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("log") / "ml100k-log"
    convert_movielens(real_data / "movielens" / "ml-100k", out)
    return out


def load(spec, split=None, **options):
    return build_dataset(spec, DataLocator(), options).load(split)


def test_a_converted_movielens_log_is_ml100k_as_sequences(movielens_log):
    mine, theirs = load(f"interactions:{movielens_log}"), load("ml100k")
    assert mine.item_ids.tolist() == theirs.item_ids.tolist()
    assert mine.item_texts() == theirs.item_texts()
    for name in ("history", "history_offsets", "targets", "train_counts"):
        assert np.array_equal(getattr(mine, name), getattr(theirs, name)), name
    assert mine.info["time_order"] == "timestamp" and mine.info["engagements"] == 100_000
    for model in ("popularity", "glove-avg"):
        a = run_cell(model, f"interactions:{movielens_log}", settings=FAST, results_dir=None).record
        b = run_cell(model, "ml100k", settings=FAST, results_dir=None).record
        assert a["metrics"] == b["metrics"], model


def test_a_converted_movielens_log_builds_the_impressions_of_ml100k_mix(movielens_log, tmp_path):
    out = tmp_path / "mix"
    result = CliRunner().invoke(app, ["datasets", "build-impressions", f"interactions:{movielens_log}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "build.json").read_text())["negatives_from"] == "time window"
    for model in ("popularity", "glove-avg"):
        a = run_cell(model, f"mind:{out}", settings=FAST, results_dir=None).record
        b = run_cell(model, "ml100k-mix", settings=FAST, results_dir=None).record
        assert a["dataset"]["sizes"] == b["dataset"]["sizes"]
        assert a["metrics"] == b["metrics"], model


def write_log(folder, interactions, items="item,title,brand\nA,red kettle,acme\nB,blue mug,\nC,green pan,acme\n"):
    folder.mkdir(exist_ok=True)
    (folder / "interactions.csv").write_text(interactions)
    (folder / "items.csv").write_text(items)
    return folder


def test_bad_rows_are_counted_and_named_by_file_and_line(tmp_path, capsys):
    log = write_log(tmp_path / "log", "user,item,timestamp\n"
                    "u1,A,1\n"          # 2
                    "u1,B,2\n"          # 3
                    "u1,B,2\n"          # 4 duplicate
                    "u1,Z,3\n"          # 5 unknown item
                    "u1,C\n"            # 6 malformed
                    "u1,A,\n"           # 7 missing timestamp: just after u1's previous (2)
                    "u2,A,5\n"          # 8 u2 has one engagement
                    "u3,C,\n"           # 9 before u3's first timestamp: just before 4
                    "u3,B,4\n"          # 10
                    '"u\t4",A,6\n')       # 11 a tab in a user id: malformed
    task = load(f"interactions:{log}")
    err = capsys.readouterr().err
    info = task.info
    assert info["duplicate_rows_left_out"] == 1 and "interactions.csv:4" in err
    assert info["rows_with_unknown_items_left_out"] == 1 and "interactions.csv:5 ('Z')" in err
    assert info["malformed_rows_left_out"] == 2 and "interactions.csv:6" in err and "interactions.csv:11" in err
    assert info["missing_timestamps_stood_in"] == 2 and "interactions.csv:7" in err and "interactions.csv:9" in err
    assert info["users_skipped_too_short"] == 1  # u2
    assert task.users.tolist() == ["u1", "u3"]
    rows = {i: r for r, i in enumerate(task.item_ids)}
    assert task.targets.tolist() == [rows["A"], rows["B"]]  # u1: A B A (file order kept); u3: C B
    assert task.history_of(0).tolist() == [rows["A"], rows["B"]] and task.history_of(1).tolist() == [rows["C"]]
    assert task.item_texts() == ["red kettle. acme", "blue mug", "green pan. acme"]


def test_spreadsheet_exports_with_a_bom_or_tabs_are_read(tmp_path):
    log = write_log(tmp_path / "log", "", "item\ttitle\nA\tred kettle\nB\tblue mug\n")
    (log / "interactions.csv").write_bytes("\ufeffuser,item,timestamp\nu1,A,1\nu1,B,2\n".encode("utf-8"))
    task = load(f"interactions:{log}")
    assert task.item_texts() == ["red kettle", "blue mug"] and task.targets.tolist() == [1]


def test_a_log_without_timestamps_keeps_file_order_and_min_rating_filters(tmp_path):
    log = write_log(tmp_path / "log", "user,item,rating\nu1,C,5\nu1,A,2\nu1,B,4\n")
    task = load(f"interactions:{log}")
    rows = {i: r for r, i in enumerate(task.item_ids)}
    assert task.info["time_order"] == "file order" and task.targets.tolist() == [rows["B"]]
    liked = load(f"interactions:{log}", min_rating=4)
    assert liked.info["rows_below_min_rating_left_out"] == 1 and liked.history_of(0).tolist() == [rows["C"]]


@pytest.mark.parametrize("interactions, items, message", [
    ("user,item,timestamp\nu1,A,yesterday\n", None, r"interactions.csv:2: field 'timestamp' is 'yesterday', not a number"),
    ("user,thing,timestamp\nu1,A,1\n", None, r"interactions.csv:1: missing column\(s\) \['item'\]"),
    ("user,item\nu1,A\n", "item,title\nA,x\nA,y\n", r"items.csv:3: item 'A' is listed twice \(first on line 2\)"),
    ("user,item\nu1,A\n", "item\nA\n", r"items.csv:1: no text column beside 'item'"),
    ("user,item\nu1,Z\n", None, r"no usable engagement"),
    ("user,item,timestamp\nu1,A,1\nu1,B,caf\xe9\n", None, r"interactions.csv:3: not valid utf-8 text at byte 9"),
])
def test_malformed_files_fail_naming_file_and_line(tmp_path, interactions, items, message):
    log = write_log(tmp_path / "log", "", *([items] if items else []))
    (log / "interactions.csv").write_bytes(interactions.encode("latin-1"))
    with pytest.raises(DataFormatError, match=message):
        load(f"interactions:{log}")


def test_a_missing_folder_or_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="needs a folder: --dataset interactions:path/to/dir"):
        load("interactions")
    with pytest.raises(FileNotFoundError, match="items.csv not found"):
        load(f"interactions:{tmp_path}")


def test_ordinal_timestamps_are_not_taken_for_times_when_building_impressions(tmp_path):
    from recbench.datasets._logs import load_source
    from recbench.datasets.mix import MixRecipe, build_impressions

    items = "item,title\n" + "".join(f"I{i},item number {i}\n" for i in range(40))
    rows = "".join(f"u{u},I{(u * 7 + k) % 40},{k}\n" for u in range(12) for k in range(5))
    write_log(tmp_path / "log", "user,item,timestamp\n" + rows, items)
    log = load_source(f"interactions:{tmp_path / 'log'}", DataLocator())
    with pytest.warns(UserWarning, match="positions .* not times"):
        stats = build_impressions(log, tmp_path / "out", MixRecipe(negatives=4, seed=0))
    assert stats["negatives_from"] == "popularity-matched (timestamps are ordinal positions)"
    assert "1970" not in (tmp_path / "out" / "dev" / "behaviors.tsv").read_text()
    real = "".join(f"u{u},I{(u * 7 + k) % 40},{1_600_000_000 + 3600 * (u * 5 + k)}\n" for u in range(12) for k in range(5))
    write_log(tmp_path / "log2", "user,item,timestamp\n" + real, items)
    timed = build_impressions(load_source(f"interactions:{tmp_path / 'log2'}", DataLocator()), tmp_path / "out2",
                              MixRecipe(negatives=4, seed=0))
    assert timed["negatives_from"] == "time window"


def test_mix_built_in_memory_is_the_task_its_written_files_give(real_data, tmp_path):
    """A Mix dataset is built in memory (nothing written); `recbench datasets build-impressions`
    writes the same tables as files. Reading those files back gives the very same task: item
    table, every impression array, the fingerprint and the recorded info."""
    from recbench.protocol.data import DataLocator
    from recbench.protocol.registry import datasets
    from recbench.datasets._logs import load_source
    from recbench.datasets.mind import build_task
    from recbench.datasets.mix import MixRecipe, build_impressions

    stats = build_impressions(load_source("ml100k", DataLocator()), tmp_path / "built", MixRecipe())
    from_files = build_task("ml100k-mix", "dev", tmp_path / "built" / "dev", tmp_path / "built" / "train", "error",
                            {"build": stats})
    in_memory = datasets.get("ml100k-mix")(name="ml100k-mix").load("dev")
    assert in_memory.fingerprint == from_files.fingerprint
    assert list(in_memory.item_ids) == list(from_files.item_ids) and in_memory.item_fields == from_files.item_fields
    assert in_memory.info == from_files.info
    for part in ("test", "train"):
        a, b = getattr(in_memory, part), getattr(from_files, part)
        for field in ("ids", "users", "times", "history", "history_offsets", "candidates", "candidate_offsets", "labels"):
            assert np.array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field))), (part, field)
