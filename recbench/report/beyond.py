"""The report's section on what a full ranking's lists reach beyond accuracy (issue 37): each
row's coverage, Gini, novelty, tail share and ILD at 10, its primary metric on tail targets,
and a plot of tail-target quality against latency (``protocol/beyond_accuracy.py`` defines them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from tabulate import tabulate

from recbench.report.markdown import file_slug, md_code, md_link_target, md_text
from recbench.report.plots import cached_plot, run_ids, save_figure
from recbench.results.run_record import as_run

K = 10
COLUMNS = (("coverage", "coverage@10"), ("gini", "Gini@10"), ("novelty", "novelty@10"),
           ("tail_share", "tail share@10"), ("ild", "ILD@10"))
NOTE = ("Each query's top 10 under the tie rule of accuracy (expected over random orders of tied items). "
        "Coverage: share of the catalog in at least one list; Gini: inequality of the items' exposure (1: one item "
        "takes every slot); novelty: mean -log2 of an item's smoothed training popularity; tail share: listed items "
        "outside the top 20% by training count; ILD: mean 1 - cosine between listed items under one fixed TF-IDF "
        "representation (the same for every row). {pm}: all / on head, torso and tail targets (top 20%, next 30%, "
        "rest of the items by training count). 95% intervals over queries.")


def has_beyond(records: list[dict[str, Any]]) -> bool:
    return any(f"coverage@{K}" in (r.get("metrics") or {}) for r in records)


def _figure(rec: dict[str, Any], metric: str, digits: int = 4, interval: bool = True) -> str:
    est = as_run(rec).metrics.get(metric)
    if est is None:
        return "–"
    if not interval:
        return f"{est.value:.{digits}f}"
    return f"{est.value:.{digits}f} [{est.ci_low:.{digits}f}, {est.ci_high:.{digits}f}]"


def beyond_table(group: pd.DataFrame, records: dict[str, dict[str, Any]]) -> str:
    """Rows with beyond-accuracy figures, best tail-target quality first."""
    first = next(r for r in records.values() if f"coverage@{K}" in r["metrics"])
    pm = first["primary_metric"]
    with_pop = f"novelty@{K}" in first["metrics"]
    columns = [c for c in COLUMNS if with_pop or c[0] in ("coverage", "gini", "ild")]
    parts = [f"{pm}[{b}]" for b in ("head", "torso", "tail")] if f"{pm}[tail]" in first["metrics"] else []

    def tail_value(model: str) -> float:
        est = records[model]["metrics"].get(parts[-1] if parts else pm) or {}
        return float(est.get("value", -1.0))

    rows = []
    for _, row in sorted(group.iterrows(), key=lambda r: -tail_value(r[1]["model"])):
        rec = records[row["model"]]
        if f"coverage@{K}" not in rec["metrics"]:
            continue
        rows.append([md_code(row["model"]), _figure(rec, pm, interval=False), *(_figure(rec, p, interval=False) for p in parts),
                     *(_figure(rec, f"{name}@{K}", 2 if name == "novelty" else 3) for name, _ in columns),
                     "–" if pd.isna(row["p50_ms"]) else f"{row['p50_ms']:.2f}"])
    head = ["model", pm, *(f"{pm} {b}" for b in ("head", "torso", "tail")[:len(parts)]),
            *(label for _, label in columns), "p50 ms"]
    return tabulate(rows, headers=head, tablefmt="github", disable_numparse=True)


def beyond_note(records: list[dict[str, Any]]) -> str:
    pm = records[0]["primary_metric"]
    return md_text(NOTE.format(pm=pm))


def plot_beyond(group: pd.DataFrame, records: dict[str, dict[str, Any]], title: str, out: Path,
                save: Callable[[Any, Path], Path]) -> Path | None:
    """Tail-target quality (or coverage, where targets have no band) against p50 latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pm = next(iter(records.values()))["primary_metric"]
    metric = f"{pm}[tail]" if any(f"{pm}[tail]" in r["metrics"] for r in records.values()) else f"coverage@{K}"
    points = []
    for _, row in group.iterrows():
        est = records[row["model"]]["metrics"].get(metric)
        if est is not None and pd.notna(row["p50_ms"]) and row["p50_ms"] > 0:
            points.append((row["model"], float(row["p50_ms"]), est["value"], est["ci_low"], est["ci_high"]))
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(9.5, 4.8), dpi=110)
    points.sort(key=lambda p: -p[2])
    xs, ys = np.array([p[1] for p in points]), np.array([p[2] for p in points])
    ax.errorbar(xs, ys, yerr=[ys - np.array([p[3] for p in points]), np.array([p[4] for p in points]) - ys],
                fmt="o", color="#1f77b4", ecolor="#bbbbbb")
    key = []
    for n, (model, x, y, _, _) in enumerate(points, start=1):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        key.append(f"{n} {model}")
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency per query (ms, log scale)")
    ax.set_ylabel(metric + (" (tail targets)" if "[tail]" in metric else ""))
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.text(0.76, 0.92, "\n".join(key[:40]), fontsize=6.5, va="top", family="monospace")
    fig.subplots_adjust(left=0.08, right=0.74, bottom=0.11, top=0.92)
    return save(fig, out)


def beyond_section(group: pd.DataFrame, group_records: dict[str, dict[str, Any]], plots_dir: Path | None,
                   out_dir: Path, stem: str) -> list[str]:
    """Coverage, exposure, novelty, diversity and tail-target quality of the rows that have them."""
    if not has_beyond(list(group_records.values())):
        return []
    lines = ["### Beyond accuracy", "", beyond_note(list(group_records.values())), "",
             beyond_table(group, group_records), ""]
    if plots_dir is not None:
        target = Path(plots_dir) / f"{file_slug(stem)}__beyond.png"
        png = cached_plot(target, run_ids(group_records), lambda: plot_beyond(
            group, group_records, f"{stem}: tail-target quality vs latency", target, save_figure))
        if png is not None:
            lines += [f"![tail-target quality vs latency]({md_link_target(os.path.relpath(png, out_dir))})", ""]
    return lines
