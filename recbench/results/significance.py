"""Paired comparison of two runs on the queries they share: is a difference real?

For per-query metrics (impressions, item-to-item, sequences) the statistic is the mean of
the per-query differences B - A; its 95% interval comes from a paired bootstrap over queries
and its p-value from a paired randomisation test (each query's two values swapped with
probability 1/2; two-sided, with the +1 correction of Phipson & Smyth).

For correlations (pairs) a query has no value of its own, so both resample and swap whole
pairs: the bootstrap resamples pairs and recomputes both correlations; the randomisation test
swaps, pair by pair, the two models' standardised predictions (ranks for Spearman, z-scores
for Pearson, so that the models' different score scales do not matter).

The swap loops stay ours rather than ``scipy.stats.permutation_test`` (tried for issue 37, with a
test against it in tests/test_significance.py): scipy's two-sided p doubles the smaller tail, so the
smallest p of the report's 1,000 draws is 2/1001 and Holm over a table of 40 rows then separates no
row from the best (every sequences row became "≈"); read as |null| >= |observed| instead it gave the
board's marks back, but the committed board's cold report took 39 s against 20 s with these loops.
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from recbench.protocol.metrics import bootstrap_indices, pearson, percentile_interval
from recbench.results.run_record import RunRecord
from recbench.results.records import RecordError, read_per_query, read_record


@dataclass
class Comparison:
    metric: str
    a: float
    b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    shared_queries: int
    method: str = "paired randomisation test over queries"
    seeds_a: int = 1  # training seeds behind each side (1: an untrained or one-seed row)
    seeds_b: int = 1

    def significant(self, level: float = 0.05) -> bool:
        return self.p_value < level

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


PART_COLUMNS = ("part", "popularity_band")  # per-query labels a metric can be split by: warm/cold, head/torso/tail
CATALOG_METRICS = re.compile(r"(coverage|gini)@\d+")  # one figure over all queries' lists, none per query


def query_values(per_query: dict[str, np.ndarray], metric: str, where: Any = "") -> tuple[np.ndarray, np.ndarray]:
    """(query ids, values) of a per-query metric; ``ndcg@10[cold]`` is ``ndcg@10`` over the
    queries whose ``part`` is ``cold`` (the cold-item protocol's targets), ``ndcg@10[tail]``
    over those whose target is a tail item (``popularity_band``)."""
    if metric in per_query:  # a part measured per query in its own column (impressions: auc[cold])
        return per_query["query_id"].astype(str), per_query[metric].astype(np.float64)
    match = re.fullmatch(r"(.+)\[([a-z][a-z0-9_-]*)\]", metric)
    base, part = (match.group(1), match.group(2)) if match else (metric, None)
    if CATALOG_METRICS.fullmatch(base):
        raise RecordError(f"{where}: {base!r} is a figure of the whole catalog (every query's list at once), "
                          "with no value per query to pair; its interval is in the record")
    if base not in per_query:
        raise RecordError(f"{where}: metric {base!r} is not among its per-query values "
                          f"{sorted(k for k in per_query if k not in ('query_id', *PART_COLUMNS))}")
    ids, values = per_query["query_id"].astype(str), per_query[base].astype(np.float64)
    if part is not None:
        columns = [c for c in PART_COLUMNS if c in per_query and (per_query[c].astype(str) == part).any()]
        if not columns:
            known = sorted({str(v) for c in PART_COLUMNS if c in per_query for v in np.unique(per_query[c])})
            raise RecordError(f"{where}: {metric!r} asks for the {part!r} queries, but this run's parts are "
                              f"{known or 'none'} (the cold-item protocol, -D cold=0.2, gives warm and cold; "
                              "a ranking run with training counts gives head, torso and tail)")
        keep = per_query[columns[0]].astype(str) == part
        ids, values = ids[keep], values[keep]
    return ids, values


def _align(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    ids_a, ids_b = a["query_id"].astype(str), b["query_id"].astype(str)
    common, ia, ib = np.intersect1d(ids_a, ids_b, return_indices=True)
    if len(common) == 0:
        raise RecordError("the two runs share no query")
    return ia, ib


def compare_per_query(va: np.ndarray, vb: np.ndarray, metric: str, n_boot: int = 2000, n_perm: int = 10000,
                      seed: int = 0, interval: bool = True) -> Comparison:
    """``interval=False``: the p-value alone (the report's marks need no interval; the same p-value,
    its permutations drawn from their own stream)."""
    ok = np.isfinite(va) & np.isfinite(vb)
    va, vb = va[ok].astype(np.float64), vb[ok].astype(np.float64)
    if len(va) == 0:
        raise RecordError(f"no query has a defined {metric} in both runs")
    d = vb - va
    observed = float(d.mean())
    lo = hi = float("nan")
    if interval:
        lo, hi = percentile_interval(d[bootstrap_indices(len(d), n_boot, seed)].mean(axis=1))
    rng = np.random.default_rng(seed + 1)
    perm = np.empty(n_perm)
    for start in range(0, n_perm, 1000):  # in blocks: (block, queries) signs
        m = min(1000, n_perm - start)
        signs = rng.choice((-1.0, 1.0), size=(m, len(d)))
        perm[start : start + m] = (signs * d).mean(axis=1)
    p = (np.sum(np.abs(perm) >= abs(observed) - 1e-15) + 1) / (n_perm + 1)
    return Comparison(metric, float(va.mean()), float(vb.mean()), observed, lo, hi, float(p), int(len(d)))


def resample_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(resamples, n): how many times each item is drawn in each bootstrap resample."""
    rows = np.arange(len(idx))[:, None] * n
    return np.bincount((rows + idx).ravel(), minlength=len(idx) * n).reshape(len(idx), n).astype(np.float64)


def resampled_ranks(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each item's average rank within every resample, from its draw counts: the items sharing a
    value form a group; a group's members rank (the draws before the group) + (its draws + 1) / 2.
    Equal to ``rankdata(x[idx], axis=1)`` at each drawn position, without sorting any resample."""
    _, group = np.unique(x, return_inverse=True)
    order = np.argsort(group, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
    drawn = np.add.reduceat(counts[:, order], starts, axis=1)  # (resamples, groups)
    average = np.cumsum(drawn, axis=1) - drawn + (drawn + 1.0) / 2.0
    return average[:, group]


def weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson's r of each row of (x, y) with each item counted w times."""
    total = w.sum(axis=1, keepdims=True)
    xc = x - (w * x).sum(axis=1, keepdims=True) / total
    yc = y - (w * y).sum(axis=1, keepdims=True) / total
    num = (w * xc * yc).sum(axis=1)
    den = np.sqrt((w * xc * xc).sum(axis=1) * (w * yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def resampled_spearman(idx: np.ndarray, gold: np.ndarray, *preds: np.ndarray, chunk: int = 250) -> list[np.ndarray]:
    """Spearman's rho x 100 of each prediction with the gold scores on every bootstrap resample
    ``idx`` (resamples, n), exactly as re-ranking each resample gives, in O(n) per resample: the
    report spent minutes in rankdata over resamples (issue 35)."""
    n = len(gold)
    out: list[list[np.ndarray]] = [[] for _ in preds]
    for start in range(0, len(idx), chunk):
        counts = resample_counts(idx[start : start + chunk], n)
        g = resampled_ranks(gold, counts)
        for k, pred in enumerate(preds):
            out[k].append(weighted_pearson(resampled_ranks(pred, counts), g, counts) * 100)
    return [np.concatenate(parts) for parts in out]


def compare_correlations(pred_a: np.ndarray, pred_b: np.ndarray, gold: np.ndarray, metric: str,
                         n_boot: int = 2000, n_perm: int = 5000, seed: int = 0, interval: bool = True) -> Comparison:
    """``interval=False``: the p-value alone (the bootstrap of both correlations is most of the cost)."""
    spearman = metric.startswith("spearman")
    if spearman:
        xa, xb, g = rankdata(pred_a), rankdata(pred_b), rankdata(gold)
    else:
        xa, xb, g = pred_a, pred_b, gold
    za = (xa - xa.mean()) / (xa.std() or 1.0)
    zb = (xb - xb.mean()) / (xb.std() or 1.0)
    ra, rb = float(pearson(za, g)) * 100, float(pearson(zb, g)) * 100
    lo = hi = float("nan")
    if interval:
        idx = bootstrap_indices(len(g), n_boot, seed)
        # resampled correlations (Spearman re-ranks each resample: exactly, from counts, see resampled_spearman)
        if spearman:
            boot_a, boot_b = resampled_spearman(idx, gold, pred_a, pred_b)
        else:
            boot_a = pearson(pred_a[idx], gold[idx]) * 100
            boot_b = pearson(pred_b[idx], gold[idx]) * 100
        lo, hi = percentile_interval(np.asarray(boot_b - boot_a))
    rng = np.random.default_rng(seed + 1)
    perm = np.empty(n_perm)
    for start in range(0, n_perm, 500):
        m = min(500, n_perm - start)
        swap = rng.random((m, len(g))) < 0.5
        pa = np.where(swap, zb, za)
        pb = np.where(swap, za, zb)
        perm[start : start + m] = (pearson(pb, g) - pearson(pa, g)) * 100
    observed = rb - ra
    p = (np.sum(np.abs(perm) >= abs(observed) - 1e-12) + 1) / (n_perm + 1)
    return Comparison(metric, ra, rb, observed, lo, hi, float(p), int(len(g)))


def comparable_metric(paths: list[Path], metric: str | None) -> str:
    """The metric a comparison of these records (both rows, every seed) is on, after checking
    that they measure the same thing: one dataset (name with its options, split, kind and the
    fingerprint of the files read, so a query id names the same query in each) and a metric that
    every one of them recorded under exactly that name. Raises RecordError saying which differs."""
    records = [(Path(p), RunRecord.from_dict(read_record(Path(p)))) for p in paths]
    first_path, first = records[0]
    metric = metric or first.primary_metric
    for field in ("name", "split", "kind", "fingerprint"):
        values = {str(getattr(run.dataset, field)) for _, run in records}
        if len(values) > 1:
            raise RecordError(f"the records evaluate different datasets: their dataset {field}s differ "
                              f"({', '.join(sorted(values))}); a comparison needs the same queries")
    for path, run in records:
        if metric not in run.metrics:
            raise RecordError(f"{path.name} records no metric {metric!r} (it has {', '.join(sorted(run.metrics))}); "
                              "name one both rows recorded")
    return metric


def compare_runs(path_a: Path, path_b: Path, metric: str | None = None, seed: int = 0,
                 n_perm: int | None = None, interval: bool = True) -> Comparison:
    """B minus A on ``metric`` (default: the primary metric of A), over the shared queries."""
    metric = comparable_metric([path_a, path_b], metric)
    rec_a, rec_b = read_record(path_a), read_record(path_b)
    qa, qb = read_per_query(path_a, rec_a), read_per_query(path_b, rec_b)
    ia, ib = _align(qa, qb)
    if "prediction" in qa:
        if metric not in ("spearman", "pearson"):
            raise RecordError(f"pairs runs compare on spearman or pearson, not {metric!r}")
        return compare_correlations(qa["prediction"][ia], qb["prediction"][ib], qa["gold"][ia], metric, seed=seed,
                                    n_perm=n_perm or 5000, interval=interval)
    ids_a, va = query_values(qa, metric, path_a)
    ids_b, vb = query_values(qb, metric, path_b)
    common, ia, ib = np.intersect1d(ids_a, ids_b, return_indices=True)
    if len(common) == 0:
        raise RecordError("the two runs share no query")
    return compare_per_query(va[ia], vb[ib], metric, seed=seed, n_perm=n_perm or 10000, interval=interval)
