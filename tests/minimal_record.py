"""The smallest run record the run-record schema accepts, for tests of record files."""

from __future__ import annotations

from typing import Any


def minimal_record(run_id: str = "20260101T000000Z-aaaaaa") -> dict[str, Any]:
    return {"schema_version": 2, "run_id": run_id, "date": "2026-01-01T00:00:00+00:00", "cell_key": "k",
            "config_hash": "h", "dataset": {"name": "lee", "split": "test", "kind": "pairs", "fingerprint": "f"},
            "model": {"name": "sif", "label": "sif", "params": {}}, "settings": {}, "primary_metric": "pearson",
            "metrics": {"pearson": {"value": 60.0, "ci_low": 55.0, "ci_high": 65.0}}, "timing": {},
            "environment": {"python": "3.11", "packages": {}}}


def record_with(**parts: Any) -> dict[str, Any]:
    """The minimal record with some parts set; a part that is an object is merged over the
    minimal one's (``record_with(model={"name": "sasrec"})`` keeps the model's label and params)."""
    record = minimal_record()
    for name, value in parts.items():
        record[name] = {**record[name], **value} if isinstance(value, dict) and isinstance(record.get(name), dict) \
            and name not in ("metrics", "timing", "settings") else value
    return record
