"""Run records as rows: the newest run of each cell, a row's seed interval and latency (from its
clean runs, on the board's machine), the frontier and the rows that may be compared. The report,
the site and ``recbench.results.load`` all read their data from here."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from recbench.results.run_record import RunRecord, as_run
from recbench.results.records import query_sample_of
from recbench.results.records import iter_records
from recbench.results.seeds import newest_per_seed, row_identity, training_seed


def is_floor(model_name: str) -> bool:
    """Whether a record's model is a reference floor (its model's ``floor`` hook; False for a
    model this installation does not know)."""
    from recbench.protocol.model_contract import hook
    from recbench.protocol.registry import baselines

    try:
        return bool(hook(baselines.get(model_name), "floor"))
    except (KeyError, RuntimeError, TypeError, ValueError):
        return False


def latest_per_cell(records: Iterable[tuple[Path, dict[str, Any]]]) -> tuple[list[list[tuple[Path, dict]]], dict[tuple, int]]:
    """The records each row shows, per (dataset, split, model label): the newest record, or
    for a trained row the newest record of each training seed run with the newest record's
    budget and model version (a row's seeds); counts the runs per row."""
    by_row: dict[tuple, list[tuple[Path, dict[str, Any]]]] = {}
    for path, rec in records:
        by_row.setdefault(cell_of(rec), []).append((path, rec))
    rows = []
    for pairs in by_row.values():
        newest = max(pairs, key=lambda pr: pr[1]["date"])
        rows.append(newest_per_seed([pr for pr in pairs if row_identity(pr[1]) == row_identity(newest[1])]))
    return rows, {key: len(pairs) for key, pairs in by_row.items()}


def reranks_from_checkpoint(rec: dict[str, Any]) -> bool:
    """A row whose reranker loads trained weights counts as trained, though the row itself trains nothing."""
    from recbench.protocol.rerank import from_checkpoint

    return from_checkpoint(str((rec.get("settings") or {}).get("rerank") or ""))  # verify's hostile records too


def cell_of(rec: dict[str, Any] | RunRecord) -> tuple[str, str, str]:
    run = as_run(rec)
    return run.dataset.name, run.dataset.split, run.model.label


def machine_of(rec: dict[str, Any] | RunRecord) -> str:
    return str(as_run(rec).environment.fingerprint or "?")


def board_machines(groups: list[list[tuple[Path, dict[str, Any]]]], prefer: str | None = None) -> dict[tuple, str]:
    """Per (dataset, split): the machine its comparisons are on, the one on which most of its rows
    scored on every query have a run (``prefer``: the machine whose name contains it, where one does). Latency is a
    property of a machine: a row wins on latency only against rows timed on the same one."""
    counts: dict[tuple, dict[str, int]] = {}
    for group in groups:
        rec = group[0][1]
        if query_sample_of(rec):
            continue  # a sampled row is compared with no full one: it does not choose the machine
        key = cell_of(rec)[:2]
        for machine in {machine_of(r) for _, r in group}:
            counts.setdefault(key, {}).setdefault(machine, 0)
            counts[key][machine] += 1
    out = {}
    for key, by_machine in counts.items():
        chosen = [m for m in by_machine if prefer and prefer.lower() in m.lower()] if prefer else []
        pool = chosen or list(by_machine)
        out[key] = max(sorted(pool), key=lambda m: by_machine[m])
    return out


def load(results_dir: Path | str | None = None, latest: bool = True,
         pairs: list[tuple[Path, dict[str, Any]]] | None = None, machine: str | None = None) -> pd.DataFrame:
    """Run records as a DataFrame, one row per run (``latest``: one row per leaderboard row,
    a trained row's quality the mean over its seeds, with their spread and count). Default
    folder: the user's runs (``user_results_dir``). ``pairs``: records already read, so that a
    caller reads its folder once (a run writing beside a second listing made them disagree)."""
    if pairs is None:
        pairs = list(iter_records(Path(results_dir) if results_dir is not None else None))
    counts: dict[tuple, int] = {}
    groups = [[pair] for pair in pairs]
    earlier: dict[tuple, list[tuple[Path, dict[str, Any]]]] = {}
    if latest:
        groups, counts = latest_per_cell(pairs)
        shown = {id(rec) for group in groups for _, rec in group}
        for path, rec in pairs:  # a row's older runs: quiet timings a busy re-run must not hide
            if id(rec) not in shown:
                earlier.setdefault(row_identity(rec), []).append((path, rec))
    boards = board_machines(groups, machine)
    rows = []
    for group in groups:
        board = boards.get((group[0][1]["dataset"]["name"], group[0][1]["dataset"]["split"]))
        seeds_runs = [RunRecord.from_dict(r) for _, r in group]
        newest = max(range(len(group)), key=lambda i: seeds_runs[i].date)  # timings and details: the newest seed
        (path, rec), run = group[newest], seeds_runs[newest]
        pm = run.primary_metric
        est = run.metrics.get(pm)
        t = run.timing
        offline, server = t.get("offline") or {}, t.get("server") or {}
        seeds = [training_seed(r) for _, r in group]
        value_of = (lambda r, metric: r.metrics[metric].value if metric in r.metrics else None)
        per_seed = [value_of(r, pm) for r in seeds_runs]
        mean_of = (lambda values: float(np.mean(values)) if all(v is not None for v in values) else None)
        rows.append({
            "dataset": run.dataset.name, "split": run.dataset.split, "kind": run.dataset.kind,
            "model": run.model.label, "primary_metric": pm,
            "value": mean_of(per_seed) if len(group) > 1 else (est.value if est else None),
            **seed_interval(group, pm, est.to_dict() if est else {}),
            "trained": run.trained or reranks_from_checkpoint(rec), "seeds": len(group) if run.trained else 0,
            "seed_list": ",".join(str(x) for x in seeds if x is not None),
            "seed_sd": float(np.std(per_seed, ddof=1)) if len(group) > 1 and None not in per_seed else None,
            "machine_dependent": any((r.training or {}).get("stopped_by") == "time" for r in seeds_runs),
            **row_latency(group, board, earlier.get(row_identity(rec), [])),
            "encoded_per_s": None if t.get("embedding_cache_hit") else t.get("texts_per_second"),
            **{f"offline_b{b}_per_s": (offline.get("texts_per_second") or {}).get(str(b)) for b in (1, 32)},
            "server_qps": server.get("max_rate_qps"), "server_bound_ms": server.get("p99_bound_ms"),
            "threads": t.get("threads"),
            "sample": (run.query_sample or {}).get("queries"),  # None: every query of the split
            "floor": is_floor(run.model.name),
            "board_machine": board,
            "model_load_s": t.get("model_load_seconds"), "peak_rss_mb": t.get("peak_rss_mb"),
            "parameters": run.model.n_parameters,
            "bytes_per_item": (t.get("index") or {}).get("bytes_per_item",
                                                          t.get("stored_bytes_per_item", t.get("stored_bytes_per_text"))),
            "index_recall": (t.get("index") or {}).get("recall@10_of_exact"),
            "train_minutes": mean_of([(as_run(r).training or {}).get("minutes") for _, r in on_one_device(group)])
            if run.trained else None,
            "train_cpu_minutes": mean_of([(r.training or {}).get("cpu_minutes") for r in seeds_runs])
            if run.trained else None,
            "train_device": train_device_of([r for _, r in group]) if run.trained else None,
            "runs": counts.get(cell_of(rec), 1), "date": run.date, "run_id": run.run_id,
            "git_sha": run.environment.git_sha, "path": str(path),
            "paths": [str(p) for p, _ in group],
            **{f"metric:{k}": mean_of([value_of(r, k) for r in seeds_runs]) for k in run.metrics},
        })
    return pd.DataFrame(rows)


def seed_interval(group: list[tuple[Path, dict[str, Any]]], metric: str, newest: dict[str, Any]) -> dict[str, Any]:
    """A row's 95% interval: its record's bootstrap interval, or for several seeds the seed
    mean's t interval and the mean query-bootstrap half-width combined in quadrature (an
    approximation for the plot; the tests use the hierarchical bootstrap)."""
    if len(group) < 2:
        return {"ci_low": newest.get("ci_low"), "ci_high": newest.get("ci_high")}
    from scipy.stats import t as student_t

    ests = [as_run(r).metrics.get(metric) for _, r in group]
    values = [e.value if e else None for e in ests]
    halves = [(e.ci_high - e.ci_low) / 2 for e in ests if e is not None]
    if None in values:
        return {"ci_low": None, "ci_high": None}
    n = len(values)
    seed_half = float(student_t.ppf(0.975, n - 1) * np.std(values, ddof=1) / np.sqrt(n))
    half = float(np.hypot(seed_half, np.mean(halves) if halves else 0.0))
    mean = float(np.mean(values))
    return {"ci_low": mean - half, "ci_high": mean + half}


LATENCY_FIELDS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms")


def row_latency(group: list[tuple[Path, dict[str, Any]]], board: str | None = None,
                earlier: list[tuple[Path, dict[str, Any]]] = ()) -> dict[str, Any]:
    """A row's latency and the machine it was timed on: from its runs on the board's machine
    where it has any (else on its own most used machine, and ``on_board`` is False), the median
    over those timed on quiet cores; when every such run was busy, the quiet ones among the row's
    ``earlier`` runs (older records of the same cell, model version and budget: a re-run on a busy
    machine does not undo a quiet timing); only when there is none, the median over the busy
    ones, and the row keeps its busy mark (``busy``). It used to be its newest run's, busy or not
    and on whichever machine (nrms: 31.97 ms beside 0.62 and 0.33 ms)."""
    machines = [machine_of(r) for _, r in group]
    machine = board if board in machines else max(sorted(set(machines)), key=machines.count)
    timings = [as_run(r).timing for (_, r), m in zip(group, machines) if m == machine]
    clean = [t for t in timings if not busy_timings(t)]
    if not clean:
        clean = [t for t in (as_run(r).timing for _, r in earlier if machine_of(r) == machine) if not busy_timings(t)]
        timings = timings + clean
    used = clean or timings
    out: dict[str, Any] = {}
    for name in LATENCY_FIELDS:
        values = [(t.get("latency") or {}).get(name) for t in used]
        values = [v for v in values if isinstance(v, (int, float))]
        out[name] = float(np.median(values)) if values else None
    out["busy"] = "" if clean else ", ".join(sorted({b for t in timings for b in busy_timings(t).split(", ") if b}))
    out["latency_runs"] = f"{len(clean)} quiet of {len(timings)}" if len(timings) > 1 else ("quiet" if clean else "busy")
    out["machine"] = machine
    out["on_board"] = board is None or machine == board
    return out


def busy_timings(timing: dict[str, Any]) -> str:
    """The scenarios timed while other processes used the cores (``scenarios.load_watch``)."""
    busy = [name for name in ("latency", "offline", "server") if ((timing.get(name) or {}).get("load") or {}).get("busy")]
    return ", ".join(busy + (["cell"] if (timing.get("load") or {}).get("busy") else []))


def pareto_frontier(latency: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """True where no other row is at least as fast and at least as good, and strictly one of
    the two (rows without a latency are never on the frontier)."""
    lat = np.asarray(latency, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    ok = np.isfinite(lat) & np.isfinite(q)
    out = np.zeros(len(lat), dtype=bool)
    for i in np.flatnonzero(ok):
        dominated = ok & (lat <= lat[i]) & (q >= q[i]) & ((lat < lat[i]) | (q > q[i]))
        out[i] = not dominated.any()
    return out


def sample_key(group: pd.DataFrame) -> pd.Series:
    """Which query sample each row was scored on ("all" for every query): rows compare only within one."""
    column = group["sample"] if "sample" in group else pd.Series([None] * len(group), index=group.index)
    return column.map(lambda n: "all" if n is None or (isinstance(n, float) and np.isnan(n)) else f"sample of {int(n)}")


def comparable(group: pd.DataFrame) -> pd.Series:
    """The rows a table's ★, best and budget answer compare: scored on every query, and timed on
    the board's machine (a row timed only elsewhere is shown, with its machine, but wins nothing)."""
    on_board = group["on_board"].astype(bool) if "on_board" in group else pd.Series(True, index=group.index)
    return (sample_key(group) == "all") & on_board


def full_rows_frontier(group: pd.DataFrame, measure: str = "p50_ms") -> np.ndarray:
    """The quality-cost frontier among the comparable rows (``comparable``); a sampled row is never
    on it (its figure is another set of queries', its p99 from a few dozen timed ones), nor a row
    timed only on another machine."""
    full = comparable(group).to_numpy()
    out = np.zeros(len(group), dtype=bool)
    if full.any():
        out[full] = pareto_frontier(group[measure].astype(float).to_numpy()[full],
                                    group["value"].astype(float).to_numpy()[full])
    return out


def device_of(record: dict[str, Any]) -> str:
    """Where a record's model trained (records before the field trained on the CPU)."""
    return str((as_run(record).training or {}).get("device") or "cpu")


def on_one_device(group: list[tuple[Path, dict[str, Any]]]) -> list[tuple[Path, dict[str, Any]]]:
    """The seeds whose training minutes a row shows: all of them, or where they trained on
    different devices, those trained on the CPU (minutes elsewhere are not minutes here)."""
    cpu = [(p, r) for p, r in group if device_of(r) == "cpu"]
    return cpu if cpu and len(cpu) < len(group) else group


def train_device_of(records: list[dict[str, Any]]) -> str:
    """Where a row's seeds trained: one device, or the CPU's share when they differ
    (``cpu; 2 of 3 seeds on cuda (NVIDIA H200)``, the minutes shown being the CPU seeds')."""
    places = [device_of(r) for r in records]
    if len(set(places)) == 1:
        return places[0]
    elsewhere = [d for d in places if d != "cpu"]
    if len(elsewhere) == len(places):
        return " + ".join(sorted(set(places)))
    return f"cpu; {len(elsewhere)} of {len(places)} seeds on {' + '.join(sorted(set(elsewhere)))}"


def metric_names(records: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for run in map(as_run, records):
        for name in [run.primary_metric, *run.metrics]:
            if name not in names:
                names.append(name)
    return names
