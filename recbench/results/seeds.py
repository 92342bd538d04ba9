"""Training seeds: which records are the seeds of one trained row, and a comparison of two rows
that counts what another training seed would give as well as which test queries were drawn.

A trained row is the set of records of one configuration (dataset, split, label, training
budget) that differ only in ``cell.training.seed``; the newest record of each seed counts.

The seed-aware test is a **hierarchical bootstrap** (resample seeds, then queries): each
replicate draws, for each row, its seeds with replacement, and one set of test queries with
replacement shared by both rows (the queries are paired); the statistic is the difference of
the two rows' means over the drawn seeds and queries. With few seeds a plain resample of
seeds understates their spread by a factor (m - 1) / m, so each row's per-seed values are
first spread about their per-query mean by sqrt(m / (m - 1)) (the usual small-sample
correction). The 95% interval is the replicates' percentile interval; the p-value is that of
the shifted bootstrap (replicates centred on 0: how often a difference at least as large as the
observed one arises under no difference; two-sided, with the +1 correction). With one seed on
each side it reduces to a paired bootstrap over queries, and ``compare`` uses the paired
randomisation test there as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recbench.protocol.metrics import percentile_interval
from recbench.results.records import RecordError, iter_records, read_per_query, read_record
from recbench.results.significance import Comparison, comparable_metric, compare_runs, query_values

METHOD = "hierarchical bootstrap (seeds, then shared queries)"


def training_seed(record: dict[str, Any]) -> int | None:
    """The training seed of a trained record; None for an untrained one."""
    training = (record.get("cell") or {}).get("training")
    return int(training["seed"]) if training and training.get("seed") is not None else None


def training_budget(record: dict[str, Any]) -> str | None:
    training = (record.get("cell") or {}).get("training")
    return str(training.get("budget")) if training else None


def row_identity(record: dict[str, Any]) -> tuple[str, str, str, str | None, str | None]:
    """What the seeds of one row share: dataset, split, label, training budget and model version."""
    return (record["dataset"]["name"], record["dataset"]["split"], record["model"]["label"], training_budget(record),
            model_version(record))


def model_version(record: dict[str, Any]) -> str | None:
    version = (record.get("model") or {}).get("version")
    return None if version is None else str(version)


def newest_per_seed(pairs: list[tuple[Path, dict[str, Any]]]) -> list[tuple[Path, dict[str, Any]]]:
    """One record per seed (the newest), ordered by seed."""
    newest: dict[int | None, tuple[Path, dict[str, Any]]] = {}
    for path, rec in pairs:
        s = training_seed(rec)
        if s not in newest or rec["date"] > newest[s][1]["date"]:
            newest[s] = (path, rec)
    return [newest[s] for s in sorted(newest, key=lambda s: -1 if s is None else s)]


def seed_siblings(path: Path, results_dir: Path | None = None) -> list[Path]:
    """The records of every seed of ``path``'s row in its folder (``path``'s own seed: itself)."""
    path = Path(path)
    rec = read_record(path)
    if training_seed(rec) is None:
        return [path]
    folder = Path(results_dir) if results_dir is not None else path.parent
    same = [(p, r) for p, r in iter_records(folder) if row_identity(r) == row_identity(rec)
            and training_seed(r) != training_seed(rec)]
    return sorted([path] + [p for p, _ in newest_per_seed(same)], key=lambda p: training_seed(read_record(p)) or 0)


def _seed_matrix(paths: list[Path], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, queries) values of ``metric`` on the queries every seed has, and their ids."""
    tables = []
    for p in paths:
        q = read_per_query(p)
        if "prediction" in q:
            raise RecordError(f"{p}: the seed-aware test is for per-query metrics, not correlations")
        ids, values = query_values(q, metric, p)
        ids = ids.astype(str)
        if len(np.unique(ids)) != len(ids):  # a repeated id: its last value, as a dict keeps it
            last = dict(zip(ids, values))
            ids, values = np.array(list(last), dtype=str), np.array(list(last.values()), dtype=np.float64)
        tables.append((ids, values))
    common = tables[0][0]
    for ids, _ in tables[1:]:
        common = np.intersect1d(common, ids)
    common = np.unique(common)  # sorted, as sorted() orders the ids
    if not len(common):
        raise RecordError("the seeds of a row share no query")
    rows = []
    for ids, values in tables:  # each seed's values at the common ids, found by binary search (no dict per query)
        order = np.argsort(ids, kind="stable")
        rows.append(values[order][np.searchsorted(ids[order], common)])
    return np.array(rows), common


def spread(values: np.ndarray) -> np.ndarray:
    """Per-seed values spread about their per-query mean by sqrt(m / (m - 1)) (m seeds)."""
    m = len(values)
    if m < 2:
        return values
    centre = values.mean(axis=0, keepdims=True)
    return centre + np.sqrt(m / (m - 1)) * (values - centre)


def seed_weights(rng: np.random.Generator, m: int, k: int) -> np.ndarray:
    """(m, k): each of m replicates' resample of k seeds as the share of draws per seed, in one
    draw of m x k integers (the same stream as m draws of k; a call per replicate was most of the
    report's time)."""
    drawn = rng.integers(0, k, size=(m, k))
    return (drawn[:, :, None] == np.arange(k)).sum(axis=1) / k


def hierarchical_bootstrap(xa: np.ndarray, xb: np.ndarray, metric: str = "value", n_boot: int = 2000,
                           seed: int = 0) -> Comparison:
    """B minus A for per-seed, per-query values ``xa`` (seeds_a, queries) and ``xb`` (seeds_b,
    queries) over the same queries in the same order. Queries undefined (NaN) in any seed of
    either row are left out."""
    xa, xb = np.atleast_2d(np.asarray(xa, np.float64)), np.atleast_2d(np.asarray(xb, np.float64))
    ok = np.isfinite(xa).all(axis=0) & np.isfinite(xb).all(axis=0)
    xa, xb = xa[:, ok], xb[:, ok]
    n = xa.shape[1]
    if n == 0:
        raise RecordError(f"no query has a defined {metric} in every seed of both rows")
    observed = float(xb.mean() - xa.mean())
    sa, sb = spread(xa), spread(xb)
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for start in range(0, n_boot, 100):
        m = min(100, n_boot - start)
        wa, wb = seed_weights(rng, m, len(sa)), seed_weights(rng, m, len(sb))
        d = wb @ sb - wa @ sa  # (m, queries): each replicate's seed-mean difference per query
        q = rng.integers(0, n, size=(m, n))
        q += (np.arange(m) * n)[:, None]  # each replicate draws from its own row: one flat gather
        stats[start : start + m] = np.take(d.ravel(), q).mean(axis=1)
    lo, hi = percentile_interval(stats)
    centred = stats - stats.mean()
    p = (np.sum(np.abs(centred) >= abs(observed) - 1e-15) + 1) / (n_boot + 1)
    return Comparison(metric, float(xa.mean()), float(xb.mean()), observed, lo, hi, float(p), int(n),
                      method=METHOD, seeds_a=len(xa), seeds_b=len(xb))


def compare_rows(paths_a: list[Path], paths_b: list[Path], metric: str | None = None, seed: int = 0,
                 n_perm: int | None = None, n_boot: int = 2000, interval: bool = True) -> Comparison:
    """Row B minus row A, each given as the records of its seeds: the hierarchical bootstrap
    when either row has several seeds, else the paired test of :func:`compare_runs`
    (``interval=False``: its p-value alone, where the interval costs extra)."""
    if len(paths_a) == 1 and len(paths_b) == 1:
        return compare_runs(Path(paths_a[0]), Path(paths_b[0]), metric, seed=seed, n_perm=n_perm, interval=interval)
    metric = comparable_metric([Path(p) for p in [*paths_a, *paths_b]], metric)
    xa, ids_a = _seed_matrix([Path(p) for p in paths_a], metric)
    xb, ids_b = _seed_matrix([Path(p) for p in paths_b], metric)
    common, ia, ib = np.intersect1d(ids_a, ids_b, return_indices=True)
    if len(common) == 0:
        raise RecordError("the two rows share no query")
    return hierarchical_bootstrap(xa[:, ia], xb[:, ib], metric, n_boot=n_boot, seed=seed)


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment of a family of p-values (controls the family-wise error):
    the i-th smallest of m is multiplied by m - i + 1, kept monotone, capped at 1."""
    order = sorted(pvalues, key=lambda k: pvalues[k])
    m, running, out = len(order), 0.0, {}
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * pvalues[key]))
        out[key] = running
    return out
