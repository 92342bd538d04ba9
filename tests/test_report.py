"""The leaderboard: newest run per cell, published rows apart and beside our figure."""

from recbench.protocol.settings import EvalSettings
from recbench.report.leaderboard import file_slug, render_markdown
from recbench.run.runner import run_cell

FAST = EvalSettings(n_bootstrap=50, latency_queries=5, progress=False)


def test_published_rows_sit_beside_our_figure(tmp_path, real_data):
    rec = run_cell("sif", "sts-b", settings=FAST, results_dir=tmp_path).record
    board = render_markdown(tmp_path)
    ours = f"{rec['metrics']['pearson']['value']:.2f}"
    line = next(l for l in board.splitlines() if l.startswith("| SIF (fse)"))
    assert "64.11" in line and ours in line and "GloVe 6B 50d" in line
    assert "| avg GloVe " in board and "not run" in board  # glove-avg was not run here


def test_the_newest_run_of_a_cell_wins_and_the_table_says_so(tmp_path):
    run_cell("random", "lee", settings=FAST, results_dir=tmp_path)
    newer = run_cell("random", "lee", options={"dim": 8}, settings=FAST, results_dir=tmp_path).record
    run_cell("random", "lee", settings=FAST, results_dir=tmp_path)
    board = render_markdown(tmp_path)
    lee = board.split("## lee (test)")[1]
    rows = [line for line in lee.splitlines() if "| `random" in line]
    assert len(rows) == 2  # two cells: random and random[dim=8]
    assert any("2 (newest shown)" in r for r in rows) and newer["model"]["label"] == "random[dim=8]"


def test_the_summary_compares_rows_only_on_datasets_both_ran_on():
    import pandas as pd
    import pytest

    from recbench.report.leaderboard import head_to_head

    rows = []
    for d in range(6):  # "broad" and "strong" ran on six datasets, "variant" on two of them
        rows.append({"model": "broad", "dataset": f"d{d}", "split": "test", "value": 0.5, "p50_ms": 1.0})
        rows.append({"model": "strong", "dataset": f"d{d}", "split": "test", "value": 0.9, "p50_ms": 1.0})
    rows += [{"model": "variant", "dataset": f"d{d}", "split": "test", "value": 0.1, "p50_ms": 1.0} for d in (0, 1)]
    stats = head_to_head(pd.DataFrame(rows))
    assert list(stats.index) == ["strong", "broad", "variant"]
    assert stats.loc["strong", "win_rate"] == 1.0 and stats.loc["strong", "comparisons"] == 8
    assert stats.loc["broad", "win_rate"] == pytest.approx(2 / 8) and stats.loc["variant", "comparisons"] == 4
    assert stats.loc["variant", "win_rate"] == 0.0  # it lost every comparison it had, and had only four


def test_a_table_mixing_machines_says_which_row_ran_where(tmp_path):
    import json

    one = run_cell("random", "lee", settings=FAST, results_dir=tmp_path)
    assert "machine" not in render_markdown(tmp_path).split("## lee (test)")[1].split("\n\n")[2]
    two = run_cell("random", "lee", options={"dim": 8}, settings=FAST, results_dir=tmp_path)
    rec = json.loads(two.path.read_text())
    rec["environment"]["fingerprint"] = "Another CPU x64, 512.0 GB, Linux"  # as a record from a cluster node
    two.path.write_text(json.dumps(rec))
    lee = render_markdown(tmp_path).split("## lee (test)")[1]
    board, apart = lee.split("### Rows timed only on another machine")
    assert f"timed on {one.record['environment']['fingerprint']}" in board and "`random`" in board
    assert "| machine" in apart.replace("  ", " ") and "Another CPU x64" in apart and "`random[dim=8]`" in apart


def test_a_cold_item_run_gets_its_all_warm_cold_table_and_plot(tmp_path, real_data):
    opts = {"cold": 0.2}
    recs = [run_cell(m, "amazon-scientific", dataset_options=opts, settings=FAST, results_dir=tmp_path / "runs").record
            for m in ("random", "popularity")]
    board = render_markdown(tmp_path / "runs", plots_dir=tmp_path / "plots", out_dir=tmp_path)
    section = board.split("### Warm and cold items")[1].split("\n\n## ")[0]
    targets = recs[0]["details"]["targets"]
    assert f"cold ({targets['cold']:,} targets)" in section and f"warm ({targets['warm']:,} targets)" in section
    pop = next(line for line in section.splitlines() if line.startswith("| `popularity`"))
    cold = recs[1]["metrics"]["ndcg@10[cold]"]
    assert f"{cold['value']:.4f} [{cold['ci_low']:.4f}, {cold['ci_high']:.4f}]" in pop.split("|")[4]
    assert (tmp_path / "plots" / f"{file_slug('amazon-scientific[cold=0.2]__test')}__cold.png").is_file()
    run_cell("random", "lee", settings=FAST, results_dir=tmp_path / "runs")  # no protocol: no such section
    assert render_markdown(tmp_path / "runs").count("### Warm and cold items") == 1


def test_pipelines_get_their_table_and_every_staged_row_its_split(tmp_path, real_data):
    from dataclasses import replace

    runs = tmp_path / "runs"
    plain = run_cell("sif", "ml100k", settings=FAST, results_dir=runs).record
    piped = [run_cell("popularity", "ml100k", settings=replace(FAST, rerank="sif", rerank_depth=k), results_dir=runs).record
             for k in (50, 10)]
    board = render_markdown(runs, plots_dir=tmp_path / "plots", out_dir=tmp_path)
    section = board.split("## ml100k (test)")[1].split("\n\n## ")[0]
    table = section.split("### Two-stage pipelines")[1].split("###")[0]
    rows = [line for line in table.splitlines() if line.startswith("| `popularity`")]
    assert [r.split("|")[3].strip() for r in rows] == ["10", "50"]  # shallow first
    ndcg = piped[0]["metrics"]["ndcg@10"]
    assert f"{ndcg['value']:.4f} [{ndcg['ci_low']:.4f}, {ndcg['ci_high']:.4f}]" in rows[1]
    stages = section.split("### Latency by stage")[1]
    assert "| `sif` " in stages and "pool" in stages and "search" in stages
    assert "first" in stages and "rerank" in stages and plain["timing"]["latency"]["stages"]
    assert (tmp_path / "plots" / "ml100k__test__stages.png").is_file()


def test_rows_built_on_codes_get_the_what_an_item_is_table(tmp_path, real_data):
    import json

    runs = tmp_path / "runs"
    run_cell("sif", "ml100k", settings=FAST, results_dir=runs)
    assert "### What an item is" not in render_markdown(runs)  # no row on codes: no section
    coded = run_cell("random", "ml100k", settings=FAST, results_dir=runs)
    rec = json.loads(coded.path.read_text())  # as a semantic-ID row records its indexing
    rec["details"]["representation"] = {"item": "semantic code prefixes", "utilisation": [1.0, 0.5, 0.25],
                                        "collision_rate": 0.125, "codes_used": [256, 128, 64]}
    coded.path.write_text(json.dumps(rec))
    section = render_markdown(runs).split("### What an item is")[1].split("\n\n## ")[0]
    row = next(line for line in section.splitlines() if line.startswith("| `random`"))
    assert "semantic code prefixes" in row and "1.00/0.50/0.25" in row and "0.125" in row
    sif = next(line for line in section.splitlines() if line.startswith("| `sif`"))
    assert "its text's vector" in sif


def test_the_summary_ranks_rows_within_each_task_kind_only(tmp_path, real_data):
    runs = tmp_path / "runs"
    run_cell("sif", "lee", settings=FAST, results_dir=runs)
    run_cell("popularity", "ml100k", settings=FAST, results_dir=runs)
    run_cell("sif", "ml100k", settings=FAST, results_dir=runs)
    board = render_markdown(runs)
    summary = board.split("## Summary per task kind")[1].split("\n## ")[0]
    pairs = summary.split("### pairs")[1].split("###")[0]
    sequences = summary.split("### sequences")[1]
    assert "`sif`" in pairs and "`popularity`" not in pairs
    assert "`popularity`" in sequences and "`sif`" in sequences
    assert "1 dataset(s), 1 row(s)" in summary.split("### pairs")[1].splitlines()[0]


def test_training_minutes_say_where_they_were_not_spent_on_the_cpu():
    from recbench.report.markdown import fmt_train_minutes
    from recbench.results.rows import train_device_of

    from minimal_record import minimal_record

    def trained(**training):
        return {**minimal_record("r"), "training": training}

    gpu = trained(device="cuda (NVIDIA H200)")
    older = trained(minutes=3.0)  # before the field: the CPU
    assert train_device_of([older]) == "cpu"
    assert train_device_of([gpu, older, older]) == "cpu; 1 of 3 seeds on cuda (NVIDIA H200)"
    assert train_device_of([gpu, trained(device="cuda:1")]) == "cuda (NVIDIA H200) + cuda:1"
    assert fmt_train_minutes({"train_minutes": 5.0, "train_device": "cpu; 2 of 3 seeds on cuda"}) == "5.0 (CPU seeds)"
    assert fmt_train_minutes({"train_minutes": 0.84, "train_device": "cuda (NVIDIA H200)"}) == "0.8 on cuda"
    assert fmt_train_minutes({"train_minutes": 12.0, "train_device": "cpu"}) == "12.0"
    assert fmt_train_minutes({"train_minutes": None, "train_device": "cuda"}) == "–"
    assert fmt_train_minutes({"train_minutes": float("nan"), "train_device": "cpu"}) == "–"
    from recbench.results.rows import on_one_device

    mixed = [("a", trained(device="cuda", minutes=0.8)), ("b", trained(minutes=5.0))]
    assert [p for p, _ in on_one_device(mixed)] == ["b"]  # the CPU seed's minutes, not a blend
    from recbench.report.representations import representation_of

    def named(name):
        record = minimal_record("r")
        return {**record, "model": {**record["model"], "name": name}, "timing": {}, "details": {}}

    assert representation_of(named("sasrec")) == {"item": "a learned id embedding"}  # before models declared it
    assert representation_of(named("no-such-model")) == {}


def test_compare_prints_a_tiny_significant_difference_as_a_number_not_as_zero():
    from recbench.cli.compare import figure

    assert figure(2.18e-05, "+") == "+2.2e-05" and figure(-3e-06) == "-3.0e-06"
    assert figure(0.0) == "0.0000" and figure(0.0173, "+") == "+0.0173" and figure(0.00005) == "0.0001"


def test_a_table_with_sampled_rows_says_how_many_queries_they_scored(tmp_path, real_data):
    from dataclasses import replace

    full = run_cell("random", "ml100k", settings=FAST, results_dir=tmp_path).record
    run_cell("random", "ml100k", settings=replace(FAST, max_queries=50), results_dir=tmp_path)
    section = render_markdown(tmp_path).split("## ml100k (test)")[1]
    n = full["dataset"]["sizes"]["users"]  # a query per user
    assert "`random{max_queries=50}`" in section and f"seeded sample of the queries (50 of the {n:,})" in section
    assert f"users {n:,}" in section.split("\n\n")[1]  # the header gives the dataset's size, not the sample's
    alone = tmp_path / "alone"
    run_cell("random", "ml100k", settings=FAST, results_dir=alone)
    assert "seeded sample" not in render_markdown(alone)
