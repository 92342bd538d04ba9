"""The leaderboard's plots (latency vs quality per dataset, training curves), each cached by
the run ids of the records it draws, so that a report with nothing changed draws nothing."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.report.marks import FRONTIER
from recbench.results.run_record import as_run


def plot_dataset(group: pd.DataFrame, title: str, out: Path) -> Path | None:
    """Latency (log scale) against the primary metric, the frontier drawn, points labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = group[np.isfinite(group["p50_ms"].astype(float)) & np.isfinite(group["value"].astype(float))]
    g = g[g["p50_ms"] > 0]
    if g.empty:
        return None
    drawn = plot_digest(title, g[["model", "p50_ms", "value", "ci_low", "ci_high", "frontier", "primary_metric"]])
    if plot_unchanged(out, drawn):  # the same points as the file already shows: not drawn again
        return out
    fig, ax = plt.subplots(figsize=(9.5, 4.8), dpi=110)
    front = g[g["frontier"]].sort_values("p50_ms")
    ax.scatter(g["p50_ms"], g["value"], color="#888888", zorder=2)
    ax.scatter(front["p50_ms"], front["value"], color="#d62728", zorder=3, label="Pareto frontier")
    ax.step(front["p50_ms"], front["value"], where="post", color="#d62728", alpha=0.6, zorder=1)
    ax.errorbar(g["p50_ms"], g["value"], yerr=[g["value"] - g["ci_low"], g["ci_high"] - g["value"]],
                fmt="none", ecolor="#bbbbbb", zorder=1)
    # points are numbered (best first) and named in a key beside the axes: names never overlap
    g = g.sort_values("value", ascending=False)
    for n, (_, r) in enumerate(g.iterrows(), start=1):
        ax.annotate(str(n), (r["p50_ms"], r["value"]), textcoords="offset points", xytext=(4, 3), fontsize=8,
                    color="#d62728" if r["frontier"] else "#444444")
    key = "\n".join(f"{n}  {m}{'  ' + FRONTIER if f else ''}"
                    for n, (m, f) in enumerate(zip(g["model"], g["frontier"]), start=1))
    ax.text(1.02, 1.0, key, transform=ax.transAxes, va="top", ha="left", fontsize=7, family="monospace")
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency per query, ms (log scale)")
    ax.set_ylabel(f"{g['primary_metric'].iloc[0]} (95% CI)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.subplots_adjust(left=0.07, right=0.60, bottom=0.11, top=0.92)  # fixed margins: tight_layout cost a draw per plot
    save_figure(fig, out)
    remember_plot(out, drawn)
    return out


PLOT_VERSION = 2  # bump when a plot's drawing changes: every plot is then drawn again


def plot_digest(title: str, data: pd.DataFrame) -> str:
    """What a plot shows: its title and its points, as a digest."""
    text = json.dumps({"v": PLOT_VERSION, "title": title, "data": data.to_json(orient="records", double_precision=10)})
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _plot_index(out: Path) -> Path:
    return out.parent / ".recbench-cache" / "plots.json"


def plot_unchanged(out: Path, digest: str) -> bool:
    """True when ``out`` exists and was drawn from the same points (``<plots>/.recbench-cache``)."""
    try:
        index = json.loads(_plot_index(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return out.is_file() and isinstance(index, dict) and index.get(out.name) == digest


def remember_plot(out: Path, digest: str) -> None:
    path = _plot_index(out)
    try:
        index = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        index = index if isinstance(index, dict) else {}
        index[out.name] = digest
        from recbench.protocol.cache import write_text_atomically

        write_text_atomically(path, json.dumps(index, sort_keys=True))
    except (OSError, ValueError):  # no cache: the plot is simply drawn again next time
        pass


def cached_plot(out: Path, inputs: Any, draw: Any) -> Path | None:
    """``draw()`` only when ``out`` is missing or was drawn from other ``inputs`` (records are
    immutable: their run ids and the rows' figures identify what a plot shows)."""
    digest = hashlib.sha256(json.dumps({"v": PLOT_VERSION, "inputs": inputs}, sort_keys=True,
                                       default=str).encode()).hexdigest()[:24]
    if plot_unchanged(out, digest):
        return out
    png = draw()
    if png is not None:
        remember_plot(out, digest)
    return png


def run_ids(records: Any) -> list[str]:
    """The run ids of records (a dict's values or a list), in a stable order: a plot's inputs."""
    recs = records.values() if isinstance(records, dict) else records
    return sorted(str(as_run(r).run_id) for r in recs)


def save_figure(fig: Any, out: Path) -> Path:
    """Writes a figure atomically (temporary name, then rename) and closes it."""
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, out)
    return out


def plot_training(group: pd.DataFrame, records: dict[str, dict[str, Any]], title: str, out: Path) -> Path | None:
    """Validation quality against training minutes, one line per trained row (from each
    record's training sidecar)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = []
    for _, row in group.iterrows():
        rec = as_run(records[row["model"]])
        name = (rec.sidecars or {}).get("training")
        if not name or not (Path(row["path"]).parent / name).is_file():
            continue
        with np.load(Path(row["path"]).parent / name) as z:
            if len(z["valid_value"]):
                lines.append((row["model"], z["valid_minutes"], z["valid_value"], rec.training["valid_metric"]))
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(9.5, 4.8), dpi=110)
    for label, minutes, values, _ in lines:
        ax.plot(minutes, values, marker="o", label=label)
    ax.set_xlabel("training minutes (this machine)")
    ax.set_ylabel(f"validation {lines[0][3]} (train-carved slice)")
    ax.set_title(f"{title}: validation quality while training")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.subplots_adjust(left=0.08, right=0.72, bottom=0.11, top=0.92)
    return save_figure(fig, out)
