"""Run records: what they hold, atomic writes, and what a failed or interrupted run leaves."""

import json

import numpy as np
import pytest

from recbench.protocol.settings import EvalSettings, EvaluationError
from recbench.protocol.registry import baselines
from recbench.results.records import SCHEMA_VERSION, read_record, write_record
from recbench.run.runner import run_cell

FAST = EvalSettings(n_bootstrap=50, latency_queries=5, progress=False)


class NaNEncoder:
    name = "nan-encoder"
    params = {}

    def __init__(self, arg=None):
        pass

    def encode(self, texts, batch_size=32):
        out = np.ones((len(texts), 4), dtype=np.float32)
        out[len(texts) // 2] = np.nan
        return out


class InterruptedEncoder:
    name = "interrupted"
    params = {}

    def __init__(self, arg=None):
        self.calls = 0

    def encode(self, texts, batch_size=32):
        self.calls += 1
        if self.calls > 1:  # after the warm-up, as if the user pressed Ctrl-C mid-run
            raise KeyboardInterrupt
        return np.ones((len(texts), 4), dtype=np.float32)


@pytest.fixture(autouse=True, scope="module")
def register_test_models():
    baselines.add("nan-encoder", NaNEncoder)
    baselines.add("interrupted", InterruptedEncoder)
    yield
    baselines._entries.pop("nan-encoder", None)
    baselines._entries.pop("interrupted", None)


def test_a_record_holds_metrics_timing_and_environment(tmp_path):
    cell = run_cell("sif", "lee", settings=FAST, results_dir=tmp_path)
    rec = read_record(cell.path)
    assert rec["schema_version"] == SCHEMA_VERSION
    assert rec["model"]["name"] == "sif" and rec["model"]["params"]["pc"] == "self"
    assert rec["model"]["params"]["component_fitted_on"].startswith("self (50 evaluated texts)")
    assert rec["dataset"]["sizes"]["pairs"] == 1225 and len(rec["dataset"]["fingerprint"]) == 16
    pearson = rec["metrics"]["pearson"]
    assert pearson["ci_low"] <= pearson["value"] <= pearson["ci_high"]
    t = rec["timing"]
    for key in ("model_load_seconds", "texts_per_second", "total_seconds", "peak_rss_mb", "threads", "batch_size"):
        assert t[key] is not None, key
    assert {"p50_ms", "p95_ms", "p99_ms"} <= set(t["latency"])
    env = rec["environment"]
    assert env["packages"]["numpy"] and env["cores"] >= 1 and "git_sha" in env


def test_same_seed_same_quality(tmp_path):
    a = run_cell("random", "lee", settings=FAST, results_dir=None).record
    b = run_cell("random", "lee", settings=FAST, results_dir=None).record
    assert a["metrics"] == b["metrics"] and a["config_hash"] == b["config_hash"]
    c = run_cell("random", "lee", options={"seed": 1}, settings=FAST, results_dir=None).record
    assert c["metrics"] != a["metrics"] and c["model"]["label"] == "random[seed=1]"


def test_nan_embeddings_fail_naming_the_model_and_write_nothing(tmp_path):
    with pytest.raises(EvaluationError, match="model 'nan-encoder' produced non-finite embeddings"):
        run_cell("nan-encoder", "lee", settings=FAST, results_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_run_leaves_no_half_record(tmp_path):
    (tmp_path / "earlier.json").write_text("{}")  # an unrelated file must survive untouched
    with pytest.raises(KeyboardInterrupt):
        run_cell("interrupted", "lee", settings=FAST, results_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["earlier.json"]


def test_records_are_never_overwritten(tmp_path):
    rec = run_cell("random", "lee", settings=FAST, results_dir=None).record
    path = write_record(rec, tmp_path)
    with pytest.raises(FileExistsError):
        write_record(rec, tmp_path)
    assert json.loads(path.read_text())["run_id"] == rec["run_id"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path):
    p = tmp_path / "future.json"
    p.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(ValueError, match="newer than this recbench understands"):
        read_record(p)
