"""The leaderboard from run records: per dataset a table (quality with intervals, latency,
throughput, memory, size), the Pareto frontier of latency vs quality marked and plotted, rows
not significantly different from the best marked, a summary of head-to-head wins across datasets,
and the published rows kept apart from measured ones."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from recbench.report.beyond import beyond_section
from recbench.report.published import peer_table, published_for, published_table
from recbench.report.parts import describe_protocol, has_parts, parts_table, plot_parts
from recbench.report.representations import NOTE as REPRESENTATIONS_NOTE
from recbench.report.representations import has_representations, representations_table
from recbench.report.stages import (has_pipelines, pipelines_table, plot_pipelines, plot_stages, stage_table, stages_of)
from recbench.report.markdown import fmt_estimate, file_slug, fmt_train_minutes, md_code, md_link_target, md_text
from recbench.report.marks import BUSY, FLOOR, FRONTIER, NOT_SIGNIFICANT, TIME_CAPPED
from recbench.report.overview import Board
from recbench.results.records import iter_records, query_sample_of, user_results_dir
from recbench.results.run_record import as_run
from recbench.protocol.kinds.base import all_kinds
from recbench.results.comparisons import LEVEL, PendingPValues
from recbench.report.plots import cached_plot, plot_dataset, plot_training, run_ids, save_figure
from recbench.results.rows import full_rows_frontier, latest_per_cell, load, machine_of, metric_names


def machine_calibration(machine: str, groups: list[list[tuple[Path, dict[str, Any]]]]) -> str:
    """`` (calibration: ...)`` from the newest record of ``machine`` that carries one, else ""."""
    from recbench.protocol.calibration import describe

    carrying = [run for group in groups for _, r in group
                if machine_of(r) == machine and (run := as_run(r)).environment.calibration]
    if not carrying:
        return ""
    newest = max(carrying, key=lambda run: run.date)
    return f" (calibration: {md_text(describe(newest.environment.calibration))})"


def fmt_quality(row: Any, rec: dict[str, Any], metric: str, digits: int, primary: str) -> str:
    """A quality cell: the estimate with its interval; a trained row's mean over its seeds with
    the seed-to-seed sd (the primary metric) and how many seeds, a one-seed row marked so."""
    estimate = as_run(rec).metrics.get(metric)
    if not row["trained"]:
        return fmt_estimate(estimate, digits)
    n = int(row["seeds"])
    if n == 1:
        return fmt_estimate(estimate, digits) + (" (1 seed)" if metric == primary else "")
    value = row.get(f"metric:{metric}")
    if value is None or not np.isfinite(value):
        return "–"
    if metric == primary and row["seed_sd"] is not None:
        return f"{value:.{digits}f} ± {row['seed_sd']:.{digits}f} ({n} seeds)"
    return f"{value:.{digits}f}"


def fmt_num(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if abs(x) >= 10000:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def fmt_size(n: Any) -> str:
    if n is None or (isinstance(n, float) and not np.isfinite(n)):
        return "–"
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}"


BEYOND_COLUMN = re.compile(r"(coverage|gini|popularity|novelty|tail_share|ild)@\d+|.+\[(head|torso|tail)\]")


def measured_table(group: pd.DataFrame, records: dict[str, dict[str, Any]], pvalues: dict[str, float],
                   plot_link: str | None, machine_column: bool | None = None, notes: bool = True) -> str:
    """A dataset's rows as a table (``machine_column``: force the machine column on or off;
    ``notes``: the separability and sample notes under it)."""
    primary = group["primary_metric"].iloc[0]
    group = group.sort_values("value", ascending=False)
    recs = [records[m] for m in group["model"]]
    metrics = [m for m in metric_names(recs) if not BEYOND_COLUMN.fullmatch(m)]  # those have their own section
    top = float(np.nanmax(np.abs(group["value"].astype(float)))) if len(group) else 0.0
    digits = 2 if top > 1.5 else 4  # correlations are x100; rates in [0, 1] need 4 decimals
    # serving columns only where some row of the table has the figure (older records lack them)
    has = {c: group[c].notna().any() for c in ("p90_ms", "offline_b1_per_s", "server_qps", "index_recall")}
    # latency is a property of a machine: a table mixing machines says which row ran where
    has["machine"] = group["machine"].nunique(dropna=True) > 1 if machine_column is None else machine_column
    bounds = sorted({f"{b:g}" for b in group["server_bound_ms"].dropna()})
    headers = ["", "model", *[f"{md_text(m)} [95% CI]" if i == 0 else md_text(m) for i, m in enumerate(metrics)],
               "train min", "train CPU min", "p50 ms", *(["p90 ms"] if has["p90_ms"] else []), "p95 ms", "p99 ms", "encoded/s",
               *(["b1 / b32 texts/s"] if has["offline_b1_per_s"] else []),
               *([f"server qps (p99 ≤ {'/'.join(bounds)} ms)"] if has["server_qps"] else []),
               *(["recall@10 of exact"] if has["index_recall"] else []),
               "load s", "peak MB", "params", "bytes/item", *(["machine"] if has["machine"] else []), "runs"]
    rows = []
    for (_, row), rec in zip(group.iterrows(), recs):
        mark = FRONTIER if row["frontier"] else ""
        p = pvalues.get(row["model"])
        if p is not None and p >= LEVEL:
            mark += NOT_SIGNIFICANT
        if row["busy"]:
            mark += BUSY
        cached = as_run(rec).timing.get("embedding_cache_hit")
        if row["machine_dependent"]:
            mark += TIME_CAPPED
        if row.get("floor"):
            mark += FLOOR
        rows.append([
            mark, md_code(row["model"]),
            *[fmt_quality(row, rec, m, digits, primary) for m in metrics],
            fmt_train_minutes(row), fmt_num(row["train_cpu_minutes"], 1), fmt_num(row["p50_ms"], 2),
            *([fmt_num(row["p90_ms"], 2)] if has["p90_ms"] else []), fmt_num(row["p95_ms"], 2), fmt_num(row["p99_ms"], 2),
            "cached" if cached else fmt_num(row["encoded_per_s"], 0),
            *([f"{fmt_num(row['offline_b1_per_s'], 0)} / {fmt_num(row['offline_b32_per_s'], 0)}"
               if pd.notna(row["offline_b1_per_s"]) else "–"] if has["offline_b1_per_s"] else []),
            *([fmt_num(row["server_qps"], 1)] if has["server_qps"] else []),
            *([fmt_num(row["index_recall"], 3)] if has["index_recall"] else []),
            fmt_num(row["model_load_s"], 2), fmt_num(row["peak_rss_mb"], 0), fmt_size(row["parameters"]),
            fmt_size(row["bytes_per_item"]), *([md_text(row["machine"] or "–")] if has["machine"] else []),
            f"{row['runs']} (newest shown)" if row["runs"] > 1 else "1",
        ])
    table = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    if pvalues and notes:
        separable = sum(1 for v in pvalues.values() if v < LEVEL)
        table += (f"\n\n{separable} of {len(pvalues)} row(s) compared are separable from the best "
                  f"(Holm-adjusted p < {LEVEL:g} over this table's {len(pvalues)} comparisons).")
    note = sample_note(recs) if notes else None
    if note:
        table += "\n\n" + note
    if has["machine"] and machine_column is None:
        table = (f"{BUSY} Rows of this table ran on {group['machine'].nunique()} different machines (see the machine "
                 "column): compare their latencies, and the frontier, only within one machine.\n\n" + table)
    if plot_link:
        table += f"\n\n[latency vs {md_text(primary)} plot]({md_link_target(plot_link)})"
    return table


def sample_note(records: list[dict[str, Any]]) -> str | None:
    """What a reader must know of rows scored on a sample of the queries (``--max-queries``):
    their intervals are the sample's, and only rows of the same sample compare figure to figure."""
    samples = sorted({(s["queries"], s["of"]) for r in records
                      if (s := query_sample_of(r))})
    if not samples:
        return None
    sizes = "; ".join(f"{n:,} of the {of:,}" for n, of in samples)
    return (f"Rows labelled `{{max_queries=N}}` are scored on a seeded sample of the queries ({sizes}), the same "
            "sample for every such row: their intervals are the sample's (wider), and their figures compare with "
            "other rows of the same sample; the paired tests above use the queries two rows share.")


def head_to_head(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model: the share of head-to-head comparisons it wins, each pair of models compared
    only on the datasets both ran on (a tie counts one half). Unlike a mean rank over each
    model's own datasets, a variant run on 2 datasets and a model run on 13 are compared on
    the same 2."""
    value = frame.pivot_table(index="model", columns=["dataset", "split"], values="value", aggfunc="first")
    models = list(value.index)
    v = value.to_numpy(dtype=np.float64)
    wins = np.zeros(len(models))
    games = np.zeros(len(models))
    for i in range(len(models)):
        both = np.isfinite(v[i]) & np.isfinite(v)  # (models, datasets): shared datasets per opponent
        both[i] = False
        diff = np.where(both, v[i] - v, 0.0)
        wins[i] = (diff > 0).sum() + 0.5 * ((diff == 0) & both).sum()
        games[i] = both.sum()
    ranks = frame.assign(rank=frame.groupby(["dataset", "split"])["value"].rank(ascending=False, method="average"))
    stats = ranks.groupby("model").agg(mean_rank=("rank", "mean"), datasets=("rank", "size"),
                                       median_p50_ms=("p50_ms", "median"))
    stats["win_rate"] = pd.Series(np.divide(wins, games, out=np.full(len(models), np.nan), where=games > 0),
                                  index=models)
    stats["comparisons"] = pd.Series(games.astype(int), index=models)
    return stats.sort_values(["win_rate", "comparisons"], ascending=[False, False])


SUMMARY_ROWS = 10  # per task kind in the Markdown board; the site shows every row


def summary_table(frame: pd.DataFrame, limit: int | None = None) -> str:
    """Models ordered by their head-to-head win rate over shared datasets (see ``head_to_head``),
    with the mean rank over their own datasets beside it for reference; the first ``limit``."""
    s = head_to_head(frame)
    more = max(0, len(s) - limit) if limit else 0
    s = s.head(limit) if limit else s
    rows = [[md_code(m), fmt_num(100 * r.win_rate, 1) if np.isfinite(r.win_rate) else "–", f"{int(r.comparisons):,}",
             int(r.datasets), f"{r.mean_rank:.2f}", fmt_num(r.median_p50_ms, 2)] for m, r in s.iterrows()]
    table = tabulate(rows, headers=["model", "wins % (shared datasets)", "comparisons", "datasets",
                                    "mean rank (own datasets)", "median p50 ms"], tablefmt="github",
                     disable_numparse=True)
    return table + (f"\n\n… and {more} more row(s) in the tables below." if more else "")


def dataset_order(key: tuple[str, str], kinds: dict[tuple[str, str], str]) -> tuple:
    order = {k.name: k.report_order for k in all_kinds()}  # a kind no longer registered goes last
    return order.get(kinds[key], 10**6), key[0], key[1]


def render_markdown(results_dir: Path | None = None, plots_dir: Path | None = None,
                    out_dir: Path = Path("."), significance: bool = True, machine: str | None = None) -> str:
    """The whole board as one Markdown document (every dataset's full section)."""
    return render_board(results_dir, plots_dir, out_dir, significance, machine).whole()


def render_board(results_dir: Path | None = None, plots_dir: Path | None = None,
                 out_dir: Path = Path("."), significance: bool = True, machine: str | None = None) -> Board:
    """The board's parts (see ``Board``); ``out_dir``: where the Markdown lands (plot links are
    relative to it); ``machine``: the board machine of every dataset that has rows on it."""
    results_dir = Path(results_dir) if results_dir is not None else user_results_dir()
    unreadable: list[tuple[Path, str]] = []
    all_pairs = list(iter_records(results_dir, unreadable))  # the folder is listed once: a snapshot
    latest, counts = latest_per_cell(all_pairs)
    frame = load(results_dir, pairs=all_pairs, machine=machine)
    records = {str(p): rec for group in latest for p, rec in group}
    envs = sorted({machine_of(rec) for group in latest for _, rec in group})
    if machine and envs and not any(machine.lower() in e.lower() for e in envs):
        raise ValueError(f"--machine {machine!r}: no run record of {results_dir}/ was measured on a machine whose "
                         f"description contains it; its machines: {'; '.join(envs)}")
    newest = max((as_run(r).date for _, r in all_pairs), default="–")[:10]
    out = [
        "# recbench leaderboard",
        "",
        f"Generated by `recbench report` from {len(all_pairs)} run record(s) in `{results_dir}/` (newest run "
        f"{newest}). Every quality figure has a 95% bootstrap interval; correlations (pairs) are ×100, impression "
        "and ranking metrics are in [0, 1] and averaged over queries. Latency is one query at a time after a "
        "warm-up. What a query is, per task kind: " + "; ".join(f"{k.name}: {k.description}" for k in all_kinds()
                                                                 if k.description) + " (searches use faiss). encoded/s is batched encoding of every "
        "distinct text or item; peak MB is the cell's own peak RSS (each cell runs in a fresh process); "
        "bytes/item is what an index stores per item; train min is the training time of a trained row (on the "
        "train split only; its checkpoint is cached, so later runs load it).",
        "",
        "Ties: item-to-item and sequence metrics are their expected value over a uniformly random order of "
        "tied items, so a model that scores every item alike lands exactly at chance, never above it; "
        "impression metrics follow MIND's official scorer, the published definition (AUC counts a tie one "
        "half; for MRR and nDCG the candidate listed later wins a tie). Row names: the model's own options in "
        "`[...]`, protocol variants (pooling, fields) in `{...}`.",
        "",
        f"{FRONTIER} on the Pareto frontier of its table by **p50 latency** (no other row both faster at p50 and "
        "better), among the rows scored on every query and timed on the table's machine (the one most of its "
        f"rows ran on); {FLOOR} a floor: a reference that knows nothing of the task (its ★ is the cheapest "
        "point, not an answer); "
        f"{NOT_SIGNIFICANT} not separable from the table's best row: the paired randomisation test over shared "
        "queries, or, where a row has several training seeds, a hierarchical bootstrap (seeds, then queries), "
        f"its p-values **Holm-adjusted** over the table's comparisons with the best, adjusted p >= {LEVEL:g}; "
        "under each table, how many rows are separable. "
        f"{BUSY} timed while other processes used more than a quarter of a core (the record says which scenario "
        "and how much): its latency and throughput are not comparable. A row's latency is the median over its "
        "runs on the table's machine that were timed on quiet cores; ⚠ stays only where every such run was "
        "busy. Rows scored on a query sample (`max_queries` in their label) are compared only within their "
        "sample.",
        "",
        "Trained rows: each model trains for its default step budget unless the label says otherwise, so the "
        "figure repeats on another machine; a row with several training seeds shows the mean ± the seed-to-seed "
        "standard deviation of its primary metric and the number of seeds (its other metrics: means), a "
        f"one-seed row says `(1 seed)`. {TIME_CAPPED} a time cap ended its training: the number of steps, and "
        "so the figure, depends on the machine. train min is wall time, train CPU min the process's CPU time "
        "(the figure that moves least when other work shares the machine).",
        "",
        "Serving (MLPerf's scenarios, where the record has them): p90 is the single-stream figure; b1 / b32 is "
        "the offline throughput of the encoder at batch 1 and 32; server qps is the largest Poisson arrival rate "
        "whose p99 latency (queueing included) stays under the bound. Labels carry the serving choices: the "
        "encoder's `[backend=…,quantize=…]`, `{threads=N}` where the thread count was pinned, `{index=…}` "
        "where an approximate or compressed item index served the queries (quality is then what the index "
        "returns, and recall@10 of exact says how much of the exact top 10 it finds).",
        "",
        "Machine(s): " + "; ".join(md_text(e) + machine_calibration(e, latest) for e in envs),
        "",
    ]
    if unreadable:
        out += [f"{BUSY} {len(unreadable)} file(s) in `{results_dir}/` could not be read as records and are left out: "
                + "; ".join(md_code(p.name) for p, _ in unreadable[:10]) + ("; ..." if len(unreadable) > 10 else ""), ""]
    if frame.empty:
        return Board(out + ["No run records yet: `recbench run --model sif --dataset lee`.", ""], [], frame)
    head, out = out, []
    frame["frontier"] = False
    kinds = {(d, s): k for d, s, k in frame[["dataset", "split", "kind"]].itertuples(index=False)}
    out += ["## Summary per task kind", "",
            "Within each task kind, rows ordered by head-to-head wins: each pair of rows is compared on the "
            "datasets of that kind both ran on (by the primary metric; a tie counts one half), so a variant run "
            "on 2 datasets is never ranked against a model's 13, and a sentence-similarity row never against a "
            f"sequence model. The top {SUMMARY_ROWS} of each kind; every row is in the tables below, and "
            "`recbench report --site DIR` publishes them as a site to sort, filter and plot "
            "(with the latency-budget view).", ""]
    by_kind = sorted(set(kinds.values()), key=lambda k: dataset_order(next(key for key, v in kinds.items() if v == k), kinds))
    for kind in by_kind:
        sub = frame[frame["kind"] == kind]
        n_rows = sub["model"].nunique()
        out += [f"### {md_text(kind)}: {sub.groupby(['dataset', 'split']).ngroups} dataset(s), {n_rows} row(s)", "",
                summary_table(sub, limit=SUMMARY_ROWS), ""]
    board = Board(head, out, frame)
    ordered = sorted(kinds, key=lambda k: dataset_order(k, kinds))
    indexes = {key: frame.index[(frame["dataset"] == key[0]) & (frame["split"] == key[1])] for key in ordered}
    tables = [frame.loc[indexes[key]] for key in ordered]
    pending = PendingPValues(tables) if significance else None  # the tests run while the plots are drawn
    try:
        for i, key in enumerate(ordered):
            board.sections.append((key, kinds[key], dataset_section(
                key, frame, indexes[key], records, latest, plots_dir, out_dir,
                lambda i=i: pending.table(i) if pending is not None else {})))
    finally:
        if pending is not None:
            pending.close()
    return board


def dataset_section(key: tuple[str, str], frame: pd.DataFrame, idx: pd.Index, records: dict[str, dict[str, Any]],
                    latest: list, plots_dir: Path | None, out_dir: Path, pvalues_of: Any) -> list[str]:
    """One dataset's full section: its tables, plots, parts, stages and published figures
    (``pvalues_of()``: its p-values, asked for after its plots are drawn)."""
    out = []
    name, split = key
    group = frame.loc[idx].copy()
    group["frontier"] = full_rows_frontier(group)
    frame.loc[idx, "frontier"] = group["frontier"]
    group_records = {row["model"]: records[row["path"]] for _, row in group.iterrows()}
    link = training_link = None
    if plots_dir is not None:
        safe = file_slug(f"{name}__{split}")
        png = plot_dataset(group, f"{name} ({split})", Path(plots_dir) / f"{safe}.png")
        if png is not None:
            link = os.path.relpath(png, out_dir)
        trained_png = Path(plots_dir) / f"{safe}__training.png"
        trained = cached_plot(trained_png, run_ids(group_records),
                              lambda: plot_training(group, group_records, f"{name} ({split})", trained_png))
        if trained is not None:
            training_link = os.path.relpath(trained, out_dir)
    pvalues = pvalues_of()
    whole = [r for r in group_records.values() if not query_sample_of(r)]
    first = (whole or list(group_records.values()))[0]  # the dataset's sizes, not a query sample's
    sizes = ", ".join(f"{k.replace('_', ' ')} {v:,.1f}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v:,}"
                      for k, v in as_run(first).dataset.sizes.items())
    on = group["on_board"].astype(bool) if "on_board" in group else pd.Series(True, index=group.index)
    timed_on = group["board_machine"].iloc[0] if "board_machine" in group else None
    out += [f"## {md_text(name)} ({md_text(split)})", "", f"{md_text(first['dataset']['kind'])} · {md_text(sizes)} · primary metric "
            f"**{md_text(first['primary_metric'])}**" + (f" · timed on {md_text(timed_on)}" if timed_on else ""), ""]
    out += [measured_table(group[on], group_records, pvalues, link, machine_column=False if (~on).any() else None), ""]
    if (~on).any():  # rows with no run on the board's machine: their own table, never beside its latencies
        out += ["### Rows timed only on another machine", "",
                "Their quality compares with the rows above; their latency does not (another machine): they take "
                "no ★ and answer no latency budget here. `recbench report --machine NAME` makes their machine the "
                "board's.", "",
                measured_table(group[~on], group_records, pvalues, None, machine_column=True, notes=False), ""]
    if has_parts(list(group_records.values())):
        out += parts_section(group, group_records, latest, plots_dir, out_dir, f"{name}__{split}")
    out += beyond_section(group, group_records, plots_dir, out_dir, f"{name}__{split}")
    out += stages_section(group_records, plots_dir, out_dir, f"{name}__{split}")
    if has_representations(list(group_records.values())):
        out += ["### What an item is", "", md_text(REPRESENTATIONS_NOTE), "",
                representations_table(group, group_records), ""]
    if training_link:
        out += [f"[validation quality vs training minutes of the trained rows]({md_link_target(training_link)})", ""]
    _, missing = published_for(list(group_records.values()))
    pub = published_table(list(group_records.values()))
    if pub:
        out += ["Published figures (not measured here; each with its own setting):", "", pub, ""]
    elif missing:
        out += [missing, ""]
    peers = peer_table(Path(group["paths"].iloc[0][0]).parent, name) if not has_parts(list(group_records.values())) \
        else None
    if peers:
        out += ["A peer library on the same split, its scores ranked by this protocol "
                "(`benchmarks/recbole_peer.py`):", "", peers, ""]
    return out


def parts_section(group: pd.DataFrame, group_records: dict[str, dict[str, Any]], latest: list, plots_dir: Path | None,
                  out_dir: Path, stem: str) -> list[str]:
    """All / warm / cold targets of a dataset run under the cold-item protocol (report_parts)."""
    seeds = {as_run(rec).model.label: [] for rec in group_records.values()}
    wanted = {id(rec) for rec in group_records.values()}
    for grp in latest:
        if any(id(r) in wanted for _, r in grp):
            seeds[as_run(grp[0][1]).model.label] = [r for _, r in grp]
    lines = ["### Warm and cold items", "", describe_protocol(list(group_records.values())), "",
             parts_table(group, group_records, seeds), ""]
    if plots_dir is not None:
        safe = file_slug(stem)
        target = Path(plots_dir) / f"{safe}__cold.png"
        inputs = {label: run_ids(recs) for label, recs in seeds.items()}
        png = cached_plot(target, inputs, lambda: plot_parts(group, group_records, f"{stem}: cold vs warm targets",
                                                             target, save_figure))
        if png is not None:
            lines += [f"![cold-target vs warm-target quality]({md_link_target(os.path.relpath(png, out_dir))})", ""]
    return lines


def stages_section(group_records: dict[str, dict[str, Any]], plots_dir: Path | None, out_dir: Path,
                   stem: str) -> list[str]:
    """Two-stage pipelines and the latency split by stage (report_stages), where rows have them."""
    lines: list[str] = []
    safe = file_slug(stem)
    if has_pipelines(list(group_records.values())):
        lines += ["### Two-stage pipelines", "",
                  "The first stage's top K re-ordered by the reranker; the rest keep the first stage's order. "
                  "Recall@K of the first stage is the share of targets the reranker can reach; latency is end to "
                  "end, then its two stages.", "", pipelines_table(group_records), ""]
        if plots_dir is not None:
            target = Path(plots_dir) / f"{safe}__pipelines.png"
            png = cached_plot(target, run_ids(group_records), lambda: plot_pipelines(
                group_records, f"{stem}: quality vs end-to-end latency by depth K", target, save_figure))
            if png is not None:
                lines += [f"![pipelines: quality vs latency]({md_link_target(os.path.relpath(png, out_dir))})", ""]
    staged = {label: rec for label, rec in group_records.items() if stages_of(rec)}
    if staged:
        lines += ["### Latency by stage", "", stage_table(staged), ""]
        if plots_dir is not None:
            target = Path(plots_dir) / f"{safe}__stages.png"
            png = cached_plot(target, run_ids(staged),
                              lambda: plot_stages(staged, f"{stem}: p50 by stage", target, save_figure))
            if png is not None:
                lines += [f"![p50 latency by stage]({md_link_target(os.path.relpath(png, out_dir))})", ""]
    return lines


def write_report(results_dir: Path | None = None, out: Path = Path("leaderboard.md"), fmt: str = "md",
                 plots_dir: Path | None = None, significance: bool = True, machine: str | None = None) -> Path:
    """Writes the leaderboard (md: an overview at ``out`` and a page per dataset in the folder
    beside it, with plots) or the table of latest runs (csv, json), atomically."""
    results_dir = Path(results_dir) if results_dir is not None else user_results_dir()
    if fmt == "md":
        from recbench.report.overview import write_board

        check_report_target(out, fmt)
        plots = plots_dir if plots_dir is not None else Path(results_dir) / "plots"
        return write_board(lambda pages: render_board(results_dir, plots, pages, significance, machine), out)
    if fmt in ("csv", "json"):
        frame = load(results_dir)
        text = frame.to_csv(index=False) if fmt == "csv" else json.dumps(
            json.loads(frame.to_json(orient="records")), indent=2) + "\n"
    else:
        raise ValueError(f"format must be md, csv or json, not {fmt!r}")
    check_report_target(out, fmt)
    from recbench.protocol.cache import write_text_atomically

    return write_text_atomically(out, text)  # a full disk or a kill leaves no temp file beside it


def check_report_target(out: Path, fmt: str = "md") -> None:
    """--out must name a file in a folder that exists (and for md, a pages folder beside it that
    holds only pages this command wrote): said before anything is rendered."""
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out}: is a folder; give the file to write (e.g. {out / 'leaderboard.md'})")
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: its folder {out.parent} does not exist")
    if fmt == "md":
        from recbench.report.overview import check_pages_target

        check_pages_target(out)
