"""The report's section on what an item is to a model (an id, a text vector, a mapped vector, a
semantic ID's prefixes, a generated code tuple): every row of a sequence dataset with what its
item is, quality (all / warm / cold targets where the cold-item protocol ran), latency, bytes per
item and training minutes, and for the rows built on codes the indexing's code utilisation and
collisions. Shown where at least one row declares a code-based representation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from recbench.results.run_record import as_run
from recbench.report.markdown import fmt_train_minutes, md_code, md_text


def representation_of(rec: dict[str, Any]) -> dict[str, Any]:
    """The record's declared representation (a model's ``details`` hook), else what the record
    shows: an encoder's vectors are its text's."""
    run = as_run(rec)
    declared = (run.details or {}).get("representation") or {}
    if declared:
        return declared
    if run.timing.get("embedding_dim"):
        return {"item": "its text's vector"}
    said = class_representation(run.model.name)
    return {"item": said} if said else {}


def class_representation(name: str) -> str | None:
    """What the model's class says an item is (``item_representation``), for records written
    before models declared it in their details; None for a model not registered here."""
    from recbench.protocol.registry import baselines

    try:
        cls = baselines.get(name)
    except Exception:  # an unknown or unloadable model: the record alone speaks
        return None
    value = getattr(cls, "item_representation", None)
    return value if isinstance(value, str) else None


def has_representations(records: list[dict[str, Any]]) -> bool:
    return any(run.dataset.kind == "sequences" and "codes_used" in representation_of(run) for run in map(as_run, records))


def _fmt(value: Any, digits: int) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def representations_table(group: pd.DataFrame, records: dict[str, dict[str, Any]]) -> str:
    """One row per model, best primary metric first."""
    pm = as_run(next(iter(records.values()))).primary_metric
    parts = any(f"metric:{pm}[cold]" in group.columns and not pd.isna(v) for v in group.get(f"metric:{pm}[cold]", []))
    rows = []
    for _, row in group.sort_values("value", ascending=False).iterrows():
        rep = representation_of(records[row["model"]])
        util = rep.get("utilisation")
        seeds = f" ({int(row['seeds'])} seeds)" if row["trained"] and int(row["seeds"]) > 1 else ""
        rows.append([
            md_code(row["model"]) + seeds, md_text(rep.get("item", "–")), _fmt(row["value"], 4),
            *([_fmt(row.get(f"metric:{pm}[warm]"), 4), _fmt(row.get(f"metric:{pm}[cold]"), 4)] if parts else []),
            _fmt(row["p50_ms"], 2), _fmt(row["p99_ms"], 2),
            "–" if row["bytes_per_item"] is None or pd.isna(row["bytes_per_item"]) else f"{int(row['bytes_per_item']):,}",
            fmt_train_minutes(row),
            "–" if not util else "/".join(f"{u:.2f}" for u in util),
            _fmt(rep.get("collision_rate"), 3),
        ])
    head = ["model", "an item is", f"{pm}", *(["warm", "cold"] if parts else []), "p50 ms", "p99 ms", "bytes/item",
            "train min", "codes used per level", "items sharing codes"]
    return tabulate(rows, headers=head, tablefmt="github", disable_numparse=True)


NOTE = ("What an item is to each model. \"Codes used per level\" is the share of each level's code book "
        "that the catalog's items use; \"items sharing codes\" the share of items whose codes (before the "
        "collision number that makes each tuple unique) equal another item's. A generative row's latency is "
        "its beam search; bytes/item is what a server keeps per item (a vector, or a code tuple).")
