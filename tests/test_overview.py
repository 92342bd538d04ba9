"""leaderboard.md as an overview (budget answers and frontier per dataset) with a full page per
dataset beside it; one board machine per dataset, the others' rows apart."""

import pytest

from recbench.protocol.settings import EvalSettings
from recbench.report.leaderboard import render_markdown, write_report
from recbench.run.runner import run_cell
from tests.toy_tasks import edit_record

FAST = EvalSettings(n_bootstrap=50, latency_queries=5, progress=False)


def set_latency(path, p50: float, p99: float, machine: str | None = None) -> None:
    def change(rec):
        rec["timing"]["latency"].update({"p50_ms": p50, "p90_ms": p99, "p95_ms": p99, "p99_ms": p99})
        rec["timing"]["latency"].pop("load", None)  # quiet: this test is about the answer, not the load
        rec["timing"].pop("load", None)
        if machine:
            rec["environment"]["fingerprint"] = machine
    edit_record(path, change)


@pytest.fixture
def board(tmp_path):
    res = tmp_path / "results"
    cheap = run_cell("random", "lee", settings=FAST, results_dir=res).path
    good = run_cell("sif", "lee", settings=FAST, results_dir=res).path
    other = run_cell("glove-avg", "lee", settings=FAST, results_dir=res).path
    set_latency(cheap, 0.05, 0.5)
    set_latency(good, 1.0, 3.0)   # within 5 ms, not within 1 ms
    set_latency(other, 0.2, 0.8)  # glove-avg: better than random, within 1 ms
    return res


def test_the_overview_answers_each_budget_and_links_a_full_page(board, tmp_path):
    out = write_report(board, tmp_path / "leaderboard.md", "md", None, significance=False)
    overview = out.read_text()
    lee = next(line for line in overview.splitlines() if line.startswith("| [lee (test)]"))
    cells = [c.strip() for c in lee.strip("|").split("|")]
    assert cells[3].startswith("`glove-avg`") and cells[4].startswith("`sif`") and cells[6].startswith("`sif`")
    assert "(leaderboard/lee__test.md)" in lee
    frontier = next(line for line in overview.splitlines() if line.startswith("- [lee (test)]"))
    assert frontier.index("`random`▿") < frontier.index("`glove-avg`") < frontier.index("`sif`")
    assert "| encoded/s" not in overview.replace("  ", " ")  # the full table is on the page, not in the overview
    page = (tmp_path / "leaderboard" / "lee__test.md").read_text()
    assert page.startswith("# lee (test)") and "(../leaderboard.md)" in page
    assert "encoded/s" in page and "| p99 ms" in page.replace("  ", " ")
    sif_row = next(line for line in page.splitlines() if "`sif`" in line and "|" in line)
    assert "★" in sif_row and "3.00" in sif_row


@pytest.mark.usefixtures("real_data")  # a second dataset (sts12) from the shared data
def test_the_pages_folder_holds_only_what_the_report_wrote(board, tmp_path):
    mine = tmp_path / "leaderboard"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's")
    with pytest.raises(ValueError, match="not empty and is not a set of leaderboard pages"):
        write_report(board, tmp_path / "leaderboard.md", "md", None, significance=False)
    assert not (tmp_path / "leaderboard.md").exists() and (mine / "notes.txt").read_text() == "the user's"
    (mine / "notes.txt").unlink()
    write_report(board, tmp_path / "leaderboard.md", "md", None, significance=False)
    (mine / "stale.md").write_text("a page of the user's")
    run_cell("random", "sts12", settings=FAST, results_dir=board)
    write_report(board, tmp_path / "leaderboard.md", "md", None, significance=False)
    assert (mine / "sts12__test.md").is_file()
    for path in board.glob("sts12__*"):
        path.unlink()
    write_report(board, tmp_path / "leaderboard.md", "md", None, significance=False)
    assert not (mine / "sts12__test.md").exists()  # the report's own page of a dataset gone: removed
    assert (mine / "stale.md").read_text() == "a page of the user's"  # never written by it: kept


def test_rows_of_another_machine_sit_apart_and_machine_chooses_the_board(board):
    (sif,) = board.glob("lee__sif__*.json")
    set_latency(sif, 0.01, 0.02, machine="Faster CPU x64, 512.0 GB, Linux")  # fast only because of its CPU
    lee = render_markdown(board, significance=False).split("## lee (test)")[1]
    main, apart = lee.split("### Rows timed only on another machine")
    assert "`sif`" not in main and "`sif`" in apart and "Faster CPU" in apart
    assert "★" not in next(line for line in apart.splitlines() if "`sif`" in line)
    chosen = render_markdown(board, significance=False, machine="faster").split("## lee (test)")[1]
    main, apart = chosen.split("### Rows timed only on another machine")
    assert "`sif`" in main and "`glove-avg`" in apart and "timed on Faster CPU" in main
    with pytest.raises(ValueError, match="no run record .* machine whose description contains it"):
        render_markdown(board, significance=False, machine="quantum")


def test_p_values_from_a_pool_of_processes_are_the_ones_computed_in_process(board, monkeypatch):
    """The report computes missing pairwise tests on a pool of processes: the same p-values."""
    import shutil

    from recbench.results import comparisons as report
    from recbench.results.rows import load

    frame = load(board)
    groups = [frame[frame["dataset"] == "lee"]]
    monkeypatch.setattr(report, "PARALLEL_FROM", 1)
    pooled = report.significance_of_groups(groups, n_perm=200, workers=2)
    shutil.rmtree(board / ".recbench-cache")
    alone = report.significance_of_groups(groups, n_perm=200, workers=1)
    assert pooled == alone and set(alone[0]) == {"random", "glove-avg"}
    assert report.significance_of_groups(groups, n_perm=200, workers=1) == alone  # from the cache now
