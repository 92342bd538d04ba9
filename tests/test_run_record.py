"""The typed run record (issue 36): built by the writer, read by attribute, and the same JSON
as the schema describes, every way round."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from recbench.results.records import read_record, validate_record
from recbench.results.run_record import PARTS, RunRecord

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "recbench" / "schema" / "run-record.schema.json").read_text())


def test_every_committed_record_reads_and_writes_back_unchanged():
    paths = sorted((ROOT / "results").glob("*.json"))
    assert len(paths) > 300
    for path in paths:
        record = read_record(path)
        run = RunRecord.from_dict(record)
        assert run.to_dict() == record, path.name
        assert run.primary.value == record["metrics"][record["primary_metric"]]["value"]
        assert run.model.label == record["model"]["label"] and run.dataset.kind == record["dataset"]["kind"]


def test_the_dataclasses_name_every_field_the_schema_declares():
    """The schema and the typed record are one shape: a property added to one is added to the other."""
    def names(cls):
        return {f.name for f in fields(cls)} - {"extra"}

    assert set(SCHEMA["properties"]) <= names(RunRecord)
    for part, cls in PARTS.items():
        declared = set((SCHEMA["properties"][part].get("properties") or {}))
        assert declared <= names(cls), part
        assert set(SCHEMA["properties"][part].get("required", [])) <= names(cls)
    assert set(SCHEMA["required"]) <= names(RunRecord)


def test_a_field_this_code_does_not_know_survives_a_round_trip(tmp_path):
    from minimal_record import minimal_record

    record = {**minimal_record("r1"), "from_the_future": {"x": 1}}
    record["model"]["also_new"] = True
    run = RunRecord.from_dict(record)
    assert run.extra == {"from_the_future": {"x": 1}} and run.model.extra == {"also_new": True}
    assert run.to_dict() == record
    validate_record(run.to_dict(), "round trip")  # extra fields are allowed by the schema


@pytest.mark.usefixtures("real_data")
def test_the_writer_builds_the_record_the_schema_accepts(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    from recbench.api import EvalSettings
    from recbench.run.runner import run_cell

    record = run_cell("random", "lee", settings=EvalSettings(n_bootstrap=20, latency_queries=2, progress=False),
                      results_dir=None).record
    validate_record(record, "the writer's record")
    run = RunRecord.from_dict(record)
    assert run.to_dict() == record and run.model.name == "random" and run.dataset.kind == "pairs"
    assert "calibration" not in record["environment"] or run.environment.calibration is not None


def test_a_record_missing_a_required_field_is_named_and_verify_still_judges_it():
    """A forged record is verify's to judge from its JSON: its checks read what the record says,
    and the typed record names what a record lacks instead of a constructor's TypeError."""
    from minimal_record import minimal_record

    from recbench.run.cells import Cell
    from recbench.run.verify import cell_disagreements

    record = {**minimal_record(), "cell": {"model": "sif", "dataset": "lee", "split": "test"}}
    with pytest.raises(ValueError, match="cell: no 'key', 'kind'"):
        RunRecord.from_dict(record)
    assert cell_disagreements(record, Cell.resolve("sif", "lee")) == [
        "model.spec: the record says None, its cell gives 'sif'", "dataset.spec: the record says None, its cell gives 'lee'"]
