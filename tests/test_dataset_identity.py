"""A dataset file's identity is its content (issue 34): a `pairs:`/`interactions:` cell is keyed
and named by the digest of the files it reads, so the same command in another folder over
another file is another cell (it used to "skip" with the first file's figure); page and plot
names are unique per name ('a b' and 'a_b' shared one)."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from recbench.run.cells import Cell, content_digest
from recbench.report.leaderboard import file_slug
from recbench.cli.app import app


def pairs_file(folder: Path, rows: list[tuple[str, str, float]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "my.csv"
    path.write_text("sentence1,sentence2,score\n" + "".join(f"{a},{b},{s}\n" for a, b, s in rows))
    return path


ROWS_A = [("a cat sat", "a cat sits", 5.0), ("a dog ran", "the sky is blue", 0.0), ("red car", "a red car", 4.0),
          ("hot tea", "cold beer", 1.0), ("big house", "a large house", 4.5)]
ROWS_B = [(b, a, 5.0 - s) for a, b, s in ROWS_A]


def test_the_same_relative_name_over_other_content_is_another_cell(tmp_path, monkeypatch):
    pairs_file(tmp_path / "one", ROWS_A)
    pairs_file(tmp_path / "two", ROWS_B)
    pairs_file(tmp_path / "three", ROWS_A)
    cells = {}
    for where in ("one", "two", "three"):
        monkeypatch.chdir(tmp_path / where)
        cells[where] = Cell.resolve("random", "pairs:my.csv")
    assert cells["one"].key != cells["two"].key and cells["one"].dataset_label != cells["two"].dataset_label
    assert cells["one"].key == cells["three"].key  # the same bytes elsewhere: the same cell
    assert Cell.resolve("random", "lee").dataset_content is None  # a named dataset keeps its key


def test_a_grid_in_another_folder_runs_instead_of_skipping_with_the_first_files_figure(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    pairs_file(tmp_path / "one", ROWS_A)
    pairs_file(tmp_path / "two", ROWS_B)
    args = ["run", "-m", "glove-avg", "-d", "pairs:my.csv", "--results-dir", str(runs), "--no-isolate",
            "--n-bootstrap", "10", "--latency-queries", "2"]
    monkeypatch.chdir(tmp_path / "one")
    first = CliRunner().invoke(app, args)
    monkeypatch.chdir(tmp_path / "two")
    second = CliRunner().invoke(app, args)
    assert first.exit_code == 0 and second.exit_code == 0, (first.output, second.output)
    assert "skip" not in second.output.lower() and len(list(runs.glob("*.json"))) == 2


def test_a_folder_digest_follows_its_files_and_ignores_hidden_ones(tmp_path):
    folder = tmp_path / "log"
    folder.mkdir()
    (folder / "interactions.csv").write_text("u,i,t\n")
    before = content_digest(str(folder))
    (folder / ".DS_Store").write_text("noise")
    assert content_digest(str(folder)) == before
    (folder / "interactions.csv").write_text("u,i,t\n1,2,3\n")
    assert content_digest(str(folder)) != before
    assert content_digest(str(tmp_path / "missing")) is None and content_digest(None) is None


def test_names_that_differ_only_where_a_character_was_replaced_get_their_own_file():
    names = ["a b", "a_b", "a/b", "a:b", "ml100k-mix[cold=0.2]", "ml100k-mix_cold_0.2_"]
    slugs = [file_slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    assert file_slug("ml100k__test") == "ml100k__test"  # a plain name keeps its file name
    assert all(os.sep not in s and not s.startswith(".") for s in slugs)


def test_the_reproduce_command_of_a_fields_cell_can_be_run():
    """The site printed `--fields title+brand`, which `recbench run` reads as one field."""
    from recbench.results.commands import command_line
    from recbench.cli.app import split_list

    record = {"cell": {"model": "sbert", "dataset": "amazon-scientific", "model_options": {}, "dataset_options": {}},
              "settings": {"fields": ["title", "brand"]}}
    line = command_line(record)
    value = line.split("--fields ", 1)[1].split(" ")[0]
    assert tuple(split_list(value)) == ("title", "brand")
