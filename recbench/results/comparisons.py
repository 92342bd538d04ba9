"""Which rows of a dataset's table are separable from its best: the planned pairwise tests
(Holm-corrected at ``LEVEL``), computed on a pool of processes and cached by the runs they compare."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from recbench.results.records import RecordError
from recbench.results.seeds import compare_rows, holm
from recbench.results.rows import sample_key


LEVEL = 0.05  # the family-wise level of the "not separable from the best" marks (Holm)


def planned_comparisons(group: pd.DataFrame) -> list[tuple[str, list[str], list[str]]]:
    """(row, best row's records, row's records) for each row of a table but its best, the best taken
    within each query sample (a sampled row only beside its own sample)."""
    out = []
    for _, same in group.groupby(sample_key(group), sort=False):
        if same["value"].notna().sum() < 2:
            continue
        best = same.loc[same["value"].astype(float).idxmax()]
        out += [(row["model"], list(best["paths"]), list(row["paths"])) for _, row in same.iterrows()
                if row["model"] != best["model"]]
    return out


def _p_value(job: tuple[list[str], list[str], int]) -> float | None:
    best, other, n_perm = job
    try:
        return compare_rows(best, other, n_perm=n_perm, n_boot=1000, interval=False).p_value
    except (RecordError, KeyError, ValueError):
        return None


PARALLEL_FROM = 8  # comparisons to compute before a pool of processes pays for its start


class PendingPValues:
    """Each row against the best row of its table (where both have per-query sidecars): the
    paired randomisation test, or the hierarchical bootstrap over seeds and queries where a
    row has several training seeds; Holm-adjusted over each table's comparisons. The tests not
    in the cache start at once on a pool of processes (one per core; the same p-values, each
    test seeded), so that the report draws its plots while they run; ``table(i)`` waits for the
    i-th table's, ``close()`` saves the cache."""

    def __init__(self, groups: list[pd.DataFrame], n_perm: int = 1000, workers: int | None = None) -> None:
        self.plans = [planned_comparisons(g) for g in groups]
        self.cache = PValueCache.of(pd.concat(groups) if groups else pd.DataFrame())
        self.keys = [[self.cache.key(best, other, n_perm=n_perm, n_boot=1000) for _, best, other in plan]
                     for plan in self.plans]
        missing = {k: (best, other, n_perm) for plan, ks in zip(self.plans, self.keys)
                   for (_, best, other), k in zip(plan, ks) if k not in self.cache}
        self.jobs, self.futures, self.pool = missing, {}, None
        n = workers if workers is not None else min(os.cpu_count() or 1, 4)
        if n > 1 and len(missing) >= PARALLEL_FROM:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))
            self.futures = {k: self.pool.submit(_p_value, job) for k, job in missing.items()}

    def _fill(self, key: str) -> None:
        if key in self.cache or key not in self.jobs:
            return
        p = self.futures[key].result() if key in self.futures else _p_value(self.jobs[key])
        if p is not None:
            self.cache[key] = p

    def table(self, i: int) -> dict[str, float]:
        for key in self.keys[i]:
            self._fill(key)
        return holm({m: self.cache[k] for (m, _, _), k in zip(self.plans[i], self.keys[i]) if k in self.cache})

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
        self.cache.save()


def significance_of_groups(groups: list[pd.DataFrame], n_perm: int = 1000,
                           workers: int | None = None) -> list[dict[str, float]]:
    """Every table's Holm-adjusted p-values against its best row (``PendingPValues``)."""
    pending = PendingPValues(groups, n_perm, workers)
    try:
        return [pending.table(i) for i in range(len(groups))]
    finally:
        pending.close()


def significance_vs_best(group: pd.DataFrame, n_perm: int = 1000) -> dict[str, float]:
    """One table's Holm-adjusted p-values against its best row (``significance_of_groups``)."""
    return significance_of_groups([group], n_perm)[0]


class PValueCache(dict):
    """Pairwise test results of a results folder, by the two rows' records (run id and the
    digest of the sidecar file itself, never the checksum a record claims) and the test's settings: a report over an unchanged board recomputes none of them.
    Kept in ``<results>/.recbench-cache/pvalues.json``, written atomically; safe to delete."""

    VERSION = 1  # bump when a test's definition changes: older entries are then never read

    def __init__(self, path: Path | None) -> None:
        super().__init__()
        self.path, self.dirty = path, False
        self.idents: dict[str, str] = {}  # record path -> "run id:sidecar sha256", each file read once
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    self.update({k: float(v) for k, v in data.items() if isinstance(v, (int, float))})
            except (OSError, ValueError):
                pass  # an unreadable cache is an empty one

    @classmethod
    def of(cls, group: pd.DataFrame) -> "PValueCache":
        paths = [p for ps in group.get("paths", pd.Series(dtype=object)) for p in (ps or [])]
        return cls(Path(paths[0]).parent / ".recbench-cache" / "pvalues.json" if paths else None)

    def key(self, paths_a: list[str], paths_b: list[str], **settings: Any) -> str:
        def ident(paths: list[str]) -> list[str]:
            for p in paths:
                if p not in self.idents:  # the sidecar's bytes as they are, not what the record says of them
                    from recbench.protocol.data import sha256_of
                    from recbench.results.records import sidecar_of

                    rec = json.loads(Path(p).read_text(encoding="utf-8"))
                    try:
                        side = sha256_of(sidecar_of(Path(p), rec))
                    except RecordError:
                        side = "no sidecar"
                    self.idents[p] = f"{rec.get('run_id')}:{side}"
            return [self.idents[p] for p in sorted(paths)]

        payload = {"v": self.VERSION, "a": ident(paths_a), "b": ident(paths_b), **settings}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]

    def __setitem__(self, key: str, value: float) -> None:
        super().__setitem__(key, value)
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        from recbench.protocol.cache import write_text_atomically

        try:
            write_text_atomically(self.path, json.dumps(dict(self), sort_keys=True))
        except OSError:  # a read-only folder or a full disk: the report goes on without a cache
            pass
        self.dirty = False
