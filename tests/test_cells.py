"""A row is exactly one configuration: cells resolved once, model options and protocol variants
kept apart, published rows found under dataset options, one pooling vocabulary per kind."""

from __future__ import annotations

import json

from minimal_record import minimal_record

import numpy as np
import pytest

from recbench.run.cells import Cell, CellError, UnsupportedCell, plan
from recbench.run.check import run_suite
from recbench.protocol.settings import EvalSettings
from recbench.run.grid import run_grid
from recbench.protocol.registry import baselines
from recbench.report.leaderboard import render_markdown
from recbench.protocol.options import format_label
from recbench.results.records import iter_records, read_record

FAST = EvalSettings(n_bootstrap=30, latency_queries=2, progress=False, use_cache=False)


class PoolingPlugin:
    """A third-party encoder with an option of its own named ``pooling`` (hashed words)."""

    name = "minilm-pool"

    def __init__(self, arg=None, pooling: str = "cls"):
        self.pooling = pooling

    @property
    def params(self):
        return {"pooling": self.pooling}

    def encode(self, texts, batch_size=32):
        from sklearn.feature_extraction.text import HashingVectorizer

        x = HashingVectorizer(n_features=64, alternate_sign=False).transform(texts).toarray().astype(np.float32)
        return np.sqrt(x) if self.pooling == "max" else x


@pytest.fixture()
def plugin():
    baselines.add("minilm-pool", PoolingPlugin)
    yield
    baselines._entries.pop("minilm-pool", None)


def test_labels_keep_model_options_and_protocol_variants_apart():
    assert format_label("sif", {"pc": "reference"}) == "sif[pc=reference]"
    assert format_label("sif", {}, {"pooling": "topk", "k": 3}) == "sif{k=3,pooling=topk}"
    assert format_label("p", {"pooling": "cls"}, {"pooling": "topk", "k": 3}) == "p[pooling=cls]{k=3,pooling=topk}"


@pytest.mark.usefixtures("real_data", "plugin")
def test_a_model_option_named_like_a_protocol_setting_makes_its_own_row(tmp_path):
    settings = EvalSettings(n_bootstrap=30, latency_queries=2, progress=False, use_cache=False, pooling="topk")
    cells = [Cell.resolve("minilm-pool", "ml100k-mix", options={"pooling": p}, settings=settings) for p in ("cls", "max")]
    assert cells[0].key != cells[1].key
    counts = run_grid(cells, results_dir=tmp_path, isolate=False)
    assert counts.done == 2, [o.message for o in counts.outcomes]
    labels = sorted(rec["model"]["label"] for _, rec in iter_records(tmp_path))
    assert labels == ["minilm-pool[pooling=cls]{k=3,pooling=topk}", "minilm-pool[pooling=max]{k=3,pooling=topk}"]
    rec = next(rec for _, rec in iter_records(tmp_path))
    assert rec["model"]["options"]["pooling"] in ("cls", "max") and rec["model"]["variant"]["pooling"] == "topk"
    assert rec["cell"]["model_options"] == rec["model"]["options"] and rec["cell"]["variant"] == rec["model"]["variant"]
    board = render_markdown(tmp_path, plots_dir=None, significance=False)
    assert "`minilm-pool[pooling=cls]{k=3,pooling=topk}`" in board
    assert "`minilm-pool[pooling=max]{k=3,pooling=topk}`" in board
    assert "newest shown" not in board


@pytest.mark.usefixtures("real_data")
def test_published_rows_survive_a_dataset_option(tmp_path):
    cell = Cell.resolve("popularity", "amazon-scientific", dataset_options={"text_style": "kv"}, settings=FAST)
    assert cell.dataset_label == "amazon-scientific[text_style=kv]"
    assert run_grid([cell], results_dir=tmp_path, isolate=False).done == 1
    board = render_markdown(tmp_path, plots_dir=None, significance=False)
    assert "Published figures (not measured here" in board
    assert all(f"| {m} " in board for m in ("SASRec", "UniSRec", "Recformer"))


def test_published_rows_that_cannot_be_found_are_said_so(tmp_path):
    rec = {"schema_version": 2, "run_id": "x", "date": "2026-01-01", "cell_key": "k", "primary_metric": "mrr",
           "config_hash": "h", "settings": {},
           "model": {"name": "m", "spec": "m", "label": "m", "options": {}, "variant": {}, "params": {}},
           "dataset": {"name": "gone-plugin", "spec": "gone-plugin", "kind": "sequences", "split": "test",
                       "sizes": {"users": 3}, "fingerprint": "f"},
           "metrics": {"mrr": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}}, "timing": {},
           "environment": {"python": "3", "packages": {}}}
    (tmp_path / "gone-plugin__m__x.json").write_text(json.dumps(rec))
    board = render_markdown(tmp_path, plots_dir=None, significance=False)
    assert "Published figures for `gone-plugin` cannot be shown: unknown dataset 'gone-plugin'" in board


def test_pooling_has_one_vocabulary_per_kind_checked_before_anything_loads():
    with pytest.raises(CellError, match="--pooling recency is not a pooling of 'impressions' tasks.*mean, topk, mix"):
        Cell.resolve("sif", "mind-small", settings=EvalSettings(pooling="recency"))
    with pytest.raises(CellError, match="--pooling mix is not a pooling of 'sequences' tasks.*mean, recency, topk"):
        Cell.resolve("sif", "amazon-scientific", settings=EvalSettings(pooling="mix"))
    with pytest.raises(CellError, match="does not apply to 'pairs' tasks"):
        Cell.resolve("sif", "lee", settings=EvalSettings(pooling="topk"))
    assert Cell.resolve("sif", "amazon-scientific", settings=EvalSettings(pooling="recency")).kind == "sequences"


def test_a_grid_is_planned_before_it_runs():
    cells, skipped = plan(["sif", "popularity"], ["lee", "ml100k"], None, {}, {}, FAST)
    assert [(c.model, c.dataset) for c in cells] == [("sif", "lee"), ("sif", "ml100k"), ("popularity", "ml100k")]
    assert skipped == [("popularity", "lee", "popularity cannot run 'pairs' tasks")]
    with pytest.raises(CellError, match="option 'nope' is accepted by none of the models sif"):
        plan(["sif"], ["lee"], None, {"nope": 1}, {}, FAST)
    with pytest.raises(CellError, match="has no split 'train'"):
        Cell.resolve("sif", "lee", split="train")
    with pytest.raises(UnsupportedCell):
        Cell.resolve("popularity", "lee")


def test_a_version_1_record_is_read_with_its_variant_apart(tmp_path):
    old = {**minimal_record("r"), "schema_version": 1,
           "model": {"name": "sif", "spec": "sif", "label": "sif[k=3,pc=reference,pooling=topk]",
                     "options": {"pc": "reference"}, "params": {}},
           "dataset": {"name": "amazon-scientific[text_style=kv]", "kind": "sequences", "split": "test",
                       "fingerprint": "f"}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    rec = read_record(tmp_path / "old.json")
    assert rec["schema_version"] == 2
    assert rec["model"]["variant"] == {"k": "3", "pooling": "topk"}
    assert rec["model"]["label"] == "sif[pc=reference]{k=3,pooling=topk}"
    assert rec["dataset"]["spec"] == "amazon-scientific"


def _suite(tmp_path, text):
    from recbench.run.suites import load_suite

    path = tmp_path / "suite.toml"
    path.write_text('name = "t"\n' + text)
    return load_suite(path)


@pytest.mark.usefixtures("real_data")
def test_check_runs_through_the_grid_engine_and_reports_unresolvable_cells(tmp_path):
    suite = _suite(tmp_path, "[defaults.settings]\nn_bootstrap = 20\nlatency_queries = 2\n"
                   '[[cells]]\nmodel = "sif"\ndataset = "lee"\nexpected = { pearson = { value = 49.87, tolerance = 0.5 } }\n'
                   '[[cells]]\nmodel = "sif"\ndataset = "lee"\nsplit = "train"\n'
                   'expected = { pearson = { value = 0, tolerance = 1 } }\n')
    rows, errors = run_suite(suite)
    assert [(r.cell, r.ok) for r in rows] == [("sif x lee", True)]
    assert errors == [("sif x lee (train)", "CellError: dataset 'lee' has no split 'train'; choose one of test")]


def test_a_trained_check_cell_trains_on_its_budget_every_time_never_from_a_cached_checkpoint(tmp_path):
    suite = _suite(tmp_path, '[[cells]]\nmodel = "nrms"\ndataset = "ml100k-mix"\ntraining = { budget = "40steps" }\n'
                   '[[cells]]\nmodel = "sif"\ndataset = "lee"\n')
    trained, plain = (Cell.from_spec(spec, retrain=True) for spec in suite.cells)
    assert trained.training.budget.steps == 40 and trained.training.retrain is True
    assert plain.training is None
    with pytest.raises(ValueError, match=r"cells\[0\].training.budget: 'forty' does not match"):
        _suite(tmp_path, '[[cells]]\nmodel = "nrms"\ndataset = "ml100k-mix"\ntraining = { budget = "forty" }\n')
    from recbench.results.cell_spec import CellSpec

    with pytest.raises(CellError, match="not a budget"):
        Cell.from_spec(CellSpec("nrms", "ml100k-mix", training={"budget": "4x0steps"}), retrain=True)


# --- one identity per cell (issue 18) -------------------------------------------------------------
def test_a_setting_the_cell_would_ignore_is_refused_before_anything_loads():
    with pytest.raises(CellError, match="--pooling topk does not apply to popularity"):
        Cell.resolve("popularity", "ml100k-mix", settings=EvalSettings(pooling="topk"))
    with pytest.raises(CellError, match="--topk 5 applies with --pooling topk or mix"):
        Cell.resolve("sif", "ml100k-mix", settings=EvalSettings(topk=5))
    # what an encoder does pool stays accepted, and keys a cell of its own
    plain = Cell.resolve("sif", "ml100k-mix")
    assert Cell.resolve("sif", "ml100k-mix", settings=EvalSettings(pooling="topk", topk=5)).key != plain.key


def test_model_options_are_typed_by_the_models_signature():
    assert Cell.resolve("sbert", "lee", options={"normalize": "no"}).model_options == {"normalize": False}
    assert Cell.resolve("sbert", "lee", options={"normalize": "yes"}).model_options == {"normalize": True}
    with pytest.raises(CellError, match="option 'normalize' of model 'sbert' takes true or false"):
        Cell.resolve("sbert", "lee", options={"normalize": "maybe"})
    with pytest.raises(CellError, match="option 'lr' of model 'biencoder' takes a finite number, not 'abc'"):
        Cell.resolve("biencoder", "ml100k-mix", options={"lr": "abc"})
    with pytest.raises(CellError, match="option 'lora' of model 'biencoder' takes a whole number, not 2.5"):
        Cell.resolve("biencoder", "ml100k-mix", options={"lora": 2.5})
    one = Cell.resolve("biencoder", "ml100k-mix", options={"temperature": 1})
    assert one.key == Cell.resolve("biencoder", "ml100k-mix", options={"temperature": 1.0}).key
    assert Cell.resolve("biencoder", "ml100k-mix", options={"lr": "none"}).model_options == {"lr": None}


def test_the_label_names_a_training_budget_other_than_the_models_default_and_never_the_seed():
    from recbench.run.training import Budget, TrainSettings

    default = Cell.resolve("nrms", "ml100k-mix")
    assert default.model_label() == "nrms"
    other = Cell.resolve("nrms", "ml100k-mix", training=TrainSettings(budget=Budget(steps=40), seed=2))
    assert other.model_label() == "nrms{train=40steps}" and other.key != default.key
    capped = Cell.resolve("nrms", "ml100k-mix", training=TrainSettings(budget=Budget.parse("6m")))
    assert capped.model_label() == f"nrms{{train={capped.training.budget.steps}steps+6m}}"
    cells, _ = plan(["nrms", "sif"], ["ml100k-mix"], None, {}, {}, FAST, None, None, [0, 1, 2])
    assert [(c.model, c.training.seed if c.training else None) for c in cells] == [
        ("nrms", 0), ("nrms", 1), ("nrms", 2), ("sif", None)]
    assert len({c.key for c in cells}) == 4 and {c.model_label() for c in cells} == {"nrms", "sif"}


def test_train_seeds_take_a_count_or_a_list():
    from recbench.run.cells import parse_train_seeds

    assert parse_train_seeds("3") == [0, 1, 2] and parse_train_seeds("0,1,2") == [0, 1, 2]
    assert parse_train_seeds("5,") == [5]
    for bad in ("0", "a", "1,1", "-1,2"):
        with pytest.raises(CellError, match="--train-seeds"):
            parse_train_seeds(bad)
    with pytest.raises(CellError, match="seed 0 alone is --train-seeds 1 or the list '0,'"):
        parse_train_seeds("0")  # the trap: one number is a count
