"""The report's section for runs whose queries fall into parts (the cold-item protocol: warm and
cold targets): each row's primary metric over all, warm and cold targets, with train minutes
and latency, and a plot of cold-target quality against warm-target quality."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from tabulate import tabulate

from recbench.results.run_record import as_run
from recbench.report.markdown import fmt_train_minutes, md_code, md_text

PARTS = ("warm", "cold")


def has_parts(records: list[dict[str, Any]]) -> bool:
    return any(f"{run.primary_metric}[cold]" in run.metrics for run in map(as_run, records))


def _cell(row: pd.Series, rec: dict[str, Any], metric: str) -> str:
    """A figure with its interval (one run) or its mean over seeds ± their sd."""
    if row["trained"] and int(row["seeds"]) > 1:
        values = [v for v in row.get("_seed_values", {}).get(metric, []) if v is not None]
        if not values:
            return "–"
        return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}" if len(values) > 1 else f"{values[0]:.4f}"
    est = as_run(rec).metrics.get(metric)
    if not est:
        return "–"
    return f"{est.value:.4f} [{est.ci_low:.4f}, {est.ci_high:.4f}]"


def parts_table(group: pd.DataFrame, records: dict[str, dict[str, Any]], seed_records: dict[str, list[dict]]) -> str:
    """Rows x {all, warm, cold} of the primary metric, best cold first."""
    runs = {model: as_run(rec) for model, rec in records.items()}
    first = next(iter(runs.values()))
    pm = first.primary_metric
    details = first.details or {}
    targets = details.get("targets") or details.get("candidates") or {}  # sequences: targets; impressions: candidates
    noun = "targets" if "targets" in details else "candidates"
    rows = []
    cold = f"{pm}[cold]"
    order = group.assign(_cold=[runs[m].metrics[cold].value if cold in runs[m].metrics else -1.0 for m in group["model"]])
    for _, row in order.sort_values("_cold", ascending=False).iterrows():
        rec = runs[row["model"]]
        row = row.copy()
        seed_runs = [as_run(r) for r in seed_records[row["model"]]]
        row["_seed_values"] = {m: [r.metrics[m].value if m in r.metrics else None for r in seed_runs]
                               for m in (pm, f"{pm}[warm]", cold)}
        seeds = f" ({int(row['seeds'])} seeds)" if row["trained"] and int(row["seeds"]) > 1 else (
            " (1 seed)" if row["trained"] else "")
        rows.append([md_code(row["model"]) + seeds, _cell(row, rec, pm), _cell(row, rec, f"{pm}[warm]"),
                     _cell(row, rec, f"{pm}[cold]"),
                     fmt_train_minutes(row),
                     "–" if pd.isna(row["p50_ms"]) else f"{row['p50_ms']:.2f}"])
    head = ["model", f"{pm}: all", f"warm ({targets.get('warm', '?'):,} {noun})" if targets else "warm",
            f"cold ({targets.get('cold', '?'):,} {noun})" if targets else "cold", "train min", "p50 ms"]
    return tabulate(rows, headers=head, tablefmt="github", disable_numparse=True)


def describe_protocol(records: list[dict[str, Any]]) -> str:
    info = (records[0]["dataset"].get("info") or {}).get("cold_items") or {}
    how = ("by a seeded hash of the item id" if info.get("by") == "hash"
           else "the items first engaged with last (time order)" if info.get("by") == "time" else "?")
    over = ("over each impression's warm candidates and over its cold candidates (the impressions with a click "
            "among them)" if records[0]["dataset"].get("kind") == "impressions" else
            "over the test targets that are warm and those that are cold")
    return md_text(f"Cold-item protocol: {info.get('items', '?'):,} of the catalog's items ({info.get('fraction', '?')}, "
                   f"{how}) are kept out of everything a model trains on; each metric is also reported {over}. "
                   "An id-only model meets a cold item with an untrained embedding (chance); a text model reads its text.")


def plot_parts(group: pd.DataFrame, records: dict[str, dict[str, Any]], title: str, out: Path,
               save: Callable[[Any, Path], Path]) -> Path | None:
    """Cold-target quality against warm-target quality, one point per row (``save`` writes the
    figure: the report's atomic writer)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pm = next(iter(records.values()))["primary_metric"]
    points = [(m, (records[m]["metrics"].get(f"{pm}[warm]") or {}).get("value"),
               (records[m]["metrics"].get(f"{pm}[cold]") or {}).get("value")) for m in group["model"]]
    points = [(m, w, c) for m, w, c in points if w is not None and c is not None]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5.0), dpi=110)
    for n, (m, w, c) in enumerate(sorted(points, key=lambda p: -p[2]), start=1):
        ax.scatter(w, c, color="#1f77b4")
        ax.annotate(f"{n} {m}", (w, c), textcoords="offset points", xytext=(4, 3), fontsize=7)
    top = max(max(w, c) for _, w, c in points) * 1.1 or 1.0
    ax.plot([0, top], [0, top], color="#999999", linestyle="--", linewidth=0.8, label="cold = warm")
    ax.set_xlabel(f"{pm} on warm targets")
    ax.set_ylabel(f"{pm} on cold targets")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.11, top=0.92)
    return save(fig, out)
