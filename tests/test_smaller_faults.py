"""The smaller cases of issue 19's adversarial pass, each run again."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from recbench.run.cells import Cell, CellError
from recbench.protocol.settings import EvalSettings, EvaluationError
from recbench.protocol.registry import Entry, baselines
from recbench.cli.app import app

FAST = EvalSettings(n_bootstrap=20, latency_queries=5, offline_texts=0, progress=False, use_cache=False)


class Hashed:
    name = "hashed"

    def __init__(self, arg=None):
        pass

    @property
    def params(self):
        return {}

    def vectors(self, texts):
        return np.array([[len(t) % 7, len(t) % 5 + 1, 1] for t in texts])


class Integers(Hashed):
    """A plugin returning integer vectors (as a careless one might)."""

    def encode(self, texts, batch_size=32):
        return self.vectors(texts).astype(np.int64)


class NanAtOne(Hashed):
    """A plugin whose vectors are NaN only when it is called one query at a time."""

    def encode(self, texts, batch_size=32):
        v = self.vectors(texts).astype(np.float32)
        return v * np.nan if batch_size <= 2 else v


def evaluate_with(model, dataset="lee"):
    from recbench.protocol.data import DataLocator
    from recbench.protocol.kinds.base import evaluate
    from recbench.run.runner import build_dataset

    return evaluate(model, build_dataset(dataset, DataLocator()).load(), FAST)


def test_a_plugin_returning_integers_is_scored_in_every_path():
    result = evaluate_with(Integers())
    assert np.isfinite(result.metrics["pearson"]["value"]) and result.timing["latency"]["p50_ms"] > 0


def test_a_plugin_failing_only_one_query_at_a_time_fails_the_cell():
    with pytest.raises(EvaluationError, match="non-finite"):
        evaluate_with(NanAtOne())


def test_settings_that_mean_nothing_are_refused_and_no_latency_is_said_so():
    with pytest.raises(CellError, match="--batch-size must be at least 1"):
        Cell.resolve("random", "lee", settings=EvalSettings(batch_size=0))
    with pytest.raises(CellError, match="--latency-queries must not be negative"):
        Cell.resolve("random", "lee", settings=EvalSettings(latency_queries=-1))
    from recbench.cli.run import summarise

    from minimal_record import minimal_record

    rec = {**minimal_record("r"), "primary_metric": "pearson", "timing": {"latency": {}},
           "metrics": {"pearson": {"value": 1.0, "ci_low": 0.0, "ci_high": 2.0}}}
    assert "latency not timed" in summarise(rec, None) and "nan" not in summarise(rec, None)


def test_a_plugin_whose_module_is_missing_is_named_and_list_still_works(monkeypatch):
    baselines._ensure_loaded()
    monkeypatch.setitem(baselines._entries, "ghost", Entry(name="ghost", target="no_such_module:Model",
                                                            source="plugin ghost-dist"))
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0 and "sif" in result.output
    assert "not loaded: 'ghost'" in result.output and "failed to load" in result.output


def test_an_empty_behaviors_file_is_an_error_naming_it(tmp_path):
    from recbench.protocol.data import DataLocator
    from recbench.run.runner import build_dataset

    (tmp_path / "news.tsv").write_text("N1\tnews\tsport\ta title\tan abstract\thttp://x\t[]\t[]\n")
    (tmp_path / "behaviors.tsv").write_text("")
    with pytest.raises(ValueError, match="behaviors.tsv: no impression to evaluate"):
        build_dataset(f"mind:{tmp_path}", DataLocator()).load()


def test_a_text_of_a_megabyte_is_read(tmp_path):
    from recbench.protocol.data import DataLocator
    from recbench.run.runner import build_dataset

    path = tmp_path / "long.csv"
    path.write_text("sentence1,sentence2,score\n" + "word " * 220_000 + ",b,1\nc,d,2\ne,f,3\n")
    task = build_dataset(f"pairs:{path}", DataLocator()).load()
    assert len(task) == 3 and len(task.texts_a[0]) > 1_000_000
