"""Beyond-accuracy metrics (issue 37): each checked against an independent computation (a
brute force over explicit top-K lists, a Monte-Carlo draw of tie orders, the mean-absolute-
difference form of the Gini index) and by metamorphic properties: a fixed list reaches K / n
of the catalog, a model that scores all alike reaches what random lists reach, renaming the
items changes nothing, and popularity has the lowest coverage and novelty of the rows."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings as hyp_settings, strategies as st
from scipy import sparse

from recbench.api import EvalSettings, baselines, evaluate
from recbench.protocol.beyond_accuracy import (BeyondAccuracy, expected_ild, gini, head_items, novelty_of,
                                               popularity_bands, tfidf_reference, top_k_inclusion)
from test_every_model_smoke import sequences_task

FAST = dict(n_bootstrap=50, latency_queries=2, offline_texts=0, progress=False)


def unit_rows(n: int, d: int, seed: int) -> sparse.csr_matrix:
    v = np.random.default_rng(seed).normal(size=(n, d))
    return sparse.csr_matrix(v / np.linalg.norm(v, axis=1, keepdims=True))


def simulated(scores: np.ndarray, k: int, draws: int, seed: int) -> np.ndarray:
    """Top-k membership frequencies over random tie orders: sort by (score, random key)."""
    rng = np.random.default_rng(seed)
    freq = np.zeros(scores.shape)
    for _ in range(draws):
        for r, row in enumerate(scores):
            order = np.lexsort((rng.random(len(row)), -row))
            kept = [i for i in order if np.isfinite(row[i])][:k]
            freq[r, kept] += 1
    return freq / draws


def test_inclusion_matches_random_tie_orders():
    scores = np.array([[3, 2, 2, 2, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1], [5, 4, 3, 2, 1, 0, -1],
                       [2, -np.inf, 2, 2, -np.inf, 1, 1]], dtype=np.float64)
    p = top_k_inclusion(scores, 3, 1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 3)
    np.testing.assert_allclose(p, simulated(scores, 3, 4000, 0), atol=0.03)
    assert p[0, 0] == 1 and np.allclose(p[0, 1:4], 2 / 3) and (p[0, 4:] == 0).all()
    assert (p[3, [1, 4]] == 0).all()  # an excluded item is never listed


def test_fewer_items_than_k_lists_every_one_not_excluded():
    scores = np.array([[1.0, -np.inf, 0.5, -np.inf]])
    np.testing.assert_array_equal(top_k_inclusion(scores, 3, 1e-6), [[1, 0, 1, 0]])


def test_ild_of_explicit_lists_and_of_tied_lists():
    ref = unit_rows(8, 5, 0)
    dense = ref.toarray()
    scores = np.array([np.arange(8, 0, -1)], dtype=np.float64)  # tie-free: the list is items 0..3
    p = top_k_inclusion(scores, 4, 1e-6)
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    brute = np.mean([1 - dense[i] @ dense[j] for i, j in pairs])
    assert expected_ild(p, ref)[0] == pytest.approx(brute, abs=1e-12)
    tied = np.array([[9, 1, 1, 1, 1, 1, 0, 0]], dtype=np.float64)  # item 0 sure, 2 of 5 tied items
    rng, draws = np.random.default_rng(1), []
    for _ in range(20000):
        picked = [0, *rng.choice(np.arange(1, 6), size=2, replace=False)]
        draws.append(np.mean([1 - dense[i] @ dense[j] for a, i in enumerate(picked) for j in picked[a + 1:]]))
    assert expected_ild(top_k_inclusion(tied, 3, 1e-6), ref)[0] == pytest.approx(np.mean(draws), abs=0.005)


@given(st.lists(st.integers(0, 50), min_size=2, max_size=40))
@hyp_settings(max_examples=60, deadline=None)
def test_gini_equals_the_mean_absolute_difference_form(counts):
    x = np.asarray(counts, dtype=np.float64)
    expected = 0.0 if x.sum() == 0 else np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())
    assert gini(x)[0] == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= gini(x)[0] <= 1.0


def accumulate(scores: np.ndarray, k: int, counts=None, reference=None, block: int = 7) -> BeyondAccuracy:
    acc = BeyondAccuracy(n_items=scores.shape[1], cutoffs=[k], tolerance=1e-6, counts=counts, reference=reference)
    for start in range(0, len(scores), block):
        acc.add(scores[start:start + block])
    return acc


def test_a_fixed_list_covers_k_of_n_and_a_constant_model_what_random_lists_cover():
    n, q, k = 50, 30, 5
    fixed = np.tile(np.arange(n, 0, -1, dtype=np.float64), (q, 1))
    m = accumulate(fixed, k).metrics(50, 0)
    assert m[f"coverage@{k}"]["value"] == pytest.approx(k / n)
    assert m[f"gini@{k}"]["value"] == pytest.approx(1 - k / n)  # k items share every slot
    constant = accumulate(np.zeros((q, n)), k).metrics(50, 0)
    assert constant[f"coverage@{k}"]["value"] == pytest.approx(1 - (1 - k / n) ** q)
    assert constant[f"gini@{k}"]["value"] == pytest.approx(0.0, abs=1e-12)


def test_explicit_lists_give_recboles_coverage_popularity_and_tail_share():
    rng = np.random.default_rng(3)
    n, q, k = 40, 25, 6
    scores = rng.normal(size=(q, n))
    counts = rng.integers(0, 30, size=n).astype(np.float64)
    lists = np.argsort(-scores, axis=1)[:, :k]
    acc = accumulate(scores, k, counts=counts)
    m, per_query = acc.metrics(50, 0), acc.per_query()
    assert m[f"coverage@{k}"]["value"] == pytest.approx(len(np.unique(lists)) / n)
    exposure = np.bincount(lists.ravel(), minlength=n)
    assert m[f"gini@{k}"]["value"] == pytest.approx(gini(exposure)[0])
    np.testing.assert_allclose(per_query[f"popularity@{k}"], counts[lists].mean(axis=1))
    np.testing.assert_allclose(per_query[f"novelty@{k}"], novelty_of(counts)[lists].mean(axis=1))
    np.testing.assert_allclose(per_query[f"tail_share@{k}"], (~head_items(counts))[lists].mean(axis=1))
    for name, est in m.items():
        assert est["ci_low"] <= est["value"] <= est["ci_high"], name


def test_bands_split_by_count_and_equal_counts_share_a_band():
    counts = np.array([100, 50, 50, 10, 5, 5, 1, 0, 0, 0])
    bands = popularity_bands(counts)
    assert list(bands[:3]) == ["head", "head", "head"]  # top 20% reaches count 50; its twin joins
    assert bands[3] == "torso" and bands[4] == bands[5]
    assert (bands[7:] == "tail").all()  # an unseen item is always tail
    assert head_items(counts).sum() == 3


def permuted(task, perm):
    """The same task with the catalog's rows in another order (item i moves to row inv[i])."""
    from dataclasses import replace

    inv = np.argsort(perm)
    return replace(task, item_ids=task.item_ids[perm], item_fields={f: [v[i] for i in perm] for f, v in task.item_fields.items()},
                   history=inv[task.history], targets=inv[task.targets], train_counts=task.train_counts[perm],
                   past=None if task.past is None else inv[task.past])


@pytest.mark.parametrize("model", ["bm25", "sif"])  # (popularity breaks its ties by a seeded draw over rows)
def test_renaming_the_items_changes_no_figure(model, tmp_path):
    task = sequences_task()
    perm = np.random.default_rng(7).permutation(len(task.item_ids))
    settings = EvalSettings(**FAST, cache_dir=str(tmp_path))
    a = evaluate(baselines.get(model)(), task, settings).metrics
    b = evaluate(baselines.get(model)(), permuted(task, perm), settings).metrics
    assert a.keys() == b.keys()
    for name in a:
        assert b[name]["value"] == pytest.approx(a[name]["value"], abs=1e-9), name


def test_ild_reference_is_fixed_by_the_texts_not_their_order():
    texts = ["red wine from spain", "a white wine", "microscope slides", "", "lab gloves, nitrile"]
    ref = tfidf_reference(texts)
    perm = [3, 1, 4, 0, 2]
    again = tfidf_reference([texts[i] for i in perm])
    np.testing.assert_allclose((again @ again.T).toarray(), (ref @ ref.T).toarray()[np.ix_(perm, perm)], atol=1e-12)


@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("RECBENCH_DATA"), reason="needs the shared data (RECBENCH_DATA)")
def test_popularity_has_the_lowest_coverage_and_novelty_on_real_data(tmp_path):
    """amazon-scientific, 1,000 sampled users: popularity's one list reaches least of the
    catalog and the most familiar items; random lists reach almost all of it."""
    from recbench.api import datasets

    task = datasets.get("amazon-scientific")(name="amazon-scientific").load("test")
    settings = EvalSettings(**FAST, cache_dir=str(tmp_path), max_queries=1000)
    from recbench.protocol.kinds.sequences import sample_sequences

    rows = np.random.default_rng(0).choice(len(task), 1000, replace=False)
    task = sample_sequences(task, rows)
    rows_metrics = {m: evaluate(baselines.get(m)(), task, settings).metrics for m in ("popularity", "random", "bm25")}
    for metric in ("coverage@10", "novelty@10", "tail_share@10"):
        values = {m: r[metric]["value"] for m, r in rows_metrics.items()}
        assert min(values, key=values.get) == "popularity", (metric, values)
    assert rows_metrics["random"]["coverage@10"]["value"] > 0.85
    assert rows_metrics["popularity"]["gini@10"]["value"] > rows_metrics["bm25"]["gini@10"]["value"]


@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("RECBENCH_DATA"), reason="needs the shared data (RECBENCH_DATA)")
def test_the_board_shows_the_beyond_accuracy_table_and_plot(tmp_path):
    from typer.testing import CliRunner

    from recbench.cli import app

    runner, runs = CliRunner(), tmp_path / "runs"
    out = runner.invoke(app, ["run", "-m", "popularity,bm25", "-d", "amazon-scientific", "--max-queries", "300",
                              "--latency-queries", "20", "--offline-texts", "0", "--results-dir", str(runs)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["report", "--results-dir", str(runs), "--out", str(tmp_path / "board.md")])
    assert out.exit_code == 0, out.output
    page = next((tmp_path / "board").glob("amazon-scientific*.md")).read_text()
    section = page.split("### Beyond accuracy", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    # best tail-target quality first (popularity lists no tail item)
    assert [r.split("`")[1].split("{")[0] for r in rows] == ["bm25", "popularity"]
    assert "coverage@10" in section and "ndcg@10 tail" in section
    assert list((runs / "plots").glob("*__beyond.png"))


def test_on_the_committed_board_popularity_reaches_least_of_every_row():
    """Every dataset of results/ with beyond-accuracy figures: the popularity row has the lowest
    coverage, novelty and tail share of all its rows (one list for everyone, the head's items)."""
    from pathlib import Path

    from recbench.results.records import read_record
    from recbench.results.rows import load

    frame = load(Path(__file__).resolve().parent.parent / "results")
    checked = 0
    for (dataset, split), group in frame.groupby(["dataset", "split"]):
        records = {row["model"]: read_record(Path(row["paths"][-1])) for _, row in group.iterrows()}
        by_rule: dict[str, dict[str, dict]] = {}  # rows under one evaluation rule compare (--seen-items)
        for model, rec in records.items():
            if "novelty@10" in rec["metrics"]:
                rule = (rec.get("settings") or {}).get("seen_items", "excluded")
                by_rule.setdefault(rule, {})[model] = rec["metrics"]
        for rule, with_figures in by_rule.items():
            popular = [m for m in with_figures if m.split("{")[0] == "popularity"]
            if not popular or len(with_figures) < 2:
                continue
            for metric in ("coverage@10", "novelty@10", "tail_share@10"):
                values = {m: metrics[metric]["value"] for m, metrics in with_figures.items()}
                assert min(values, key=values.get) == popular[0], (dataset, rule, metric, values)
            checked += 1
    assert checked >= 1 or not any("novelty@10" in read_record(Path(p))["metrics"]
                                   for paths in frame["paths"] for p in paths)
