"""`recbench report --site DIR` deletes or hides nothing it did not create (issue 34): the
results folder and its parents, an existing file and a non-empty folder that is not a site it
built are refused before anything is written; rebuilding a site replaces only its own files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recbench.cli.app import app
from recbench.report.site.build import MARKER, SiteTargetError, build_site, check_site_target, install_site

COMMITTED = Path(__file__).resolve().parent.parent / "results"


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def built(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "built"
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


@pytest.mark.parametrize("where", ["results", "parent"])
def test_the_results_folder_and_its_parents_are_refused(tmp_path, where):
    results = tmp_path / "work" / "runs"
    results.mkdir(parents=True)
    (results / "a.json").write_text("{}")
    target = results if where == "results" else results.parent
    before = tree(tmp_path)
    with pytest.raises(SiteTargetError, match="holds the results folder"):
        check_site_target(results, target)
    assert tree(tmp_path) == before


def test_a_users_folder_and_a_file_are_refused_and_left_alone(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(SiteTargetError, match="not a site recbench built"):
        check_site_target(tmp_path / "runs", mine)
    (tmp_path / "notes").write_text("a file")
    with pytest.raises(SiteTargetError, match="a file of that name exists"):
        check_site_target(tmp_path / "runs", tmp_path / "notes")
    assert (mine / "thesis.tex").read_text() == "years of work" and (tmp_path / "notes").read_text() == "a file"
    assert not list(tmp_path.glob(".*-old"))
    check_site_target(tmp_path / "runs", tmp_path / "new")  # a new folder
    (tmp_path / "empty").mkdir()
    check_site_target(tmp_path / "runs", tmp_path / "empty")  # an empty one


def test_a_rebuild_replaces_its_own_files_and_keeps_the_users(tmp_path):
    site = tmp_path / "site"
    install_site(built(tmp_path, {"index.html": "v1", "datasets/old.html": "gone next time"}), site)
    (site / "README-mine.txt").write_text("the user's")
    check_site_target(tmp_path / "runs", site)  # a site this command built: allowed
    install_site(built(tmp_path, {"index.html": "v2", "datasets/new.html": "new"}), site)
    assert tree(site) == {MARKER: b"datasets/new.html\nindex.html\n", "README-mine.txt": b"the user's",
                          "datasets/new.html": b"new", "index.html": b"v2"}


def test_a_forged_marker_removes_nothing_outside_the_site(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (tmp_path / "precious.txt").write_text("keep")
    (site / MARKER).write_text("../precious.txt\n/etc/hostname\nindex.html\n")
    install_site(built(tmp_path, {"other.html": "x"}), site)
    assert (tmp_path / "precious.txt").read_text() == "keep"


def test_report_site_on_the_results_folder_writes_and_deletes_nothing(tmp_path):
    results = tmp_path / "runs"
    results.mkdir()
    sample = next(p for p in sorted(COMMITTED.glob("ml100k__*.json")) if not json.loads(p.read_text()).get("training"))
    (results / sample.name).write_bytes(sample.read_bytes())
    (results / "mine.queries.npz").write_bytes(b"not ours to delete")
    before = tree(tmp_path)
    result = CliRunner().invoke(app, ["report", "--results-dir", str(results), "--site", str(results)])
    assert result.exit_code == 2 and "holds the results folder" in result.output
    assert tree(tmp_path) == before  # not even the leaderboard was written


def test_a_built_site_can_be_rebuilt_in_place(tmp_path):
    results = tmp_path / "runs"
    results.mkdir()
    sample = next(p for p in sorted(COMMITTED.glob("ml100k__*.json")) if not json.loads(p.read_text()).get("training"))
    record = json.loads(sample.read_text())
    record["sidecar"], record["sidecars"] = None, {}
    (results / sample.name).write_text(json.dumps(record))
    site = tmp_path / "site"
    build_site(results, site, significance=False)
    (site / "mine.txt").write_text("kept")
    build_site(results, site, significance=False)
    assert (site / "index.html").is_file() and (site / "mine.txt").read_text() == "kept"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder or -old left beside it
