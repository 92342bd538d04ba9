"""The Ray executor against the local one, and the sharded catalog encode with 1 and 2 workers,
on the real data (run by hand on a quiet machine, not a unit test).

    RECBENCH_DATA=../shared/data python benchmarks/bench_executors.py [--encode-model sbert] \
        [--out benchmarks/results/executors.json]

Grid: the same cells with ``--executor local`` (a fresh process per cell) and ``--executor
ray`` (a fresh Ray worker per cell, on a local instance of this machine's CPUs); every metric
of every cell is compared for equality. A cell's overhead is the wall time of the grid, less
the Ray start, less the work the records account for (their ``total_seconds``), divided by the
cells: process start, imports, moving the record and writing it.

Packed: the same cells pinned to one thread each (``--threads 1``) on Ray, so this 2-CPU node
runs two at once: the grid's wall time against the unpinned Ray grid, whether the figures are
equal, and how many cells the load watch flagged (a neighbour on the spare core does not flag).

Sharded encode: the distinct item texts of every catalog in the shared data, encoded with one
and with two Ray actors (one thread each, fixed 2,048-text shards), into two fresh caches; the
vectors are compared bit for bit and the cache entries file for file.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _common import emit

os.environ.setdefault("HF_HUB_OFFLINE", "1")

GRID_MODELS = ["random", "glove-avg", "sif", "sbert"]
GRID_DATASETS = ["lee", "sts-b", "ml100k", "amazon-scientific-mix"]
CATALOGS = ["ml100k", "ml100k-mix", "amazon-scientific", "amazon-scientific-mix", "wine-tdm", "wine-similar"]


def grid_cells():
    from recbench.run.cells import plan
    from recbench.protocol.settings import EvalSettings

    settings = EvalSettings(progress=False, use_cache=False, offline_texts=0)
    cells, _ = plan(GRID_MODELS, GRID_DATASETS, None, {}, {}, settings)
    return cells


def compare_grids() -> dict:
    import ray

    from recbench.run.grid import run_grid
    from recbench.run.ray_executor import connect
    from recbench.results.records import iter_records

    cells = grid_cells()
    out: dict = {"cells": len(cells), "models": GRID_MODELS, "datasets": GRID_DATASETS}
    with tempfile.TemporaryDirectory() as tmp:
        walls = {}
        t = time.perf_counter()
        local = run_grid(cells, results_dir=Path(tmp) / "local")
        walls["local"] = time.perf_counter() - t
        t = time.perf_counter()
        connect()
        ray_start = time.perf_counter() - t
        t = time.perf_counter()
        remote = run_grid(cells, results_dir=Path(tmp) / "ray", executor="ray")
        walls["ray"] = time.perf_counter() - t
        t = time.perf_counter()  # packed: every cell pinned to 1 thread, so a node runs one per CPU
        packed = run_grid([replace(c, settings=replace(c.settings, threads=1)) for c in cells],
                          results_dir=Path(tmp) / "packed", executor="ray")
        walls["packed"] = time.perf_counter() - t
        ray.shutdown()
        records = {name: {rec["cell_key"]: rec for _, rec in iter_records(Path(tmp) / name)} for name in walls}
    assert local.failed == remote.failed == packed.failed == 0, [
        o.message for o in local.outcomes + remote.outcomes + packed.outcomes if o.message]
    same = [records["local"][k]["metrics"] == records["ray"][k]["metrics"] for k in records["local"]]
    out["identical_quality_figures"] = f"{sum(same)} of {len(same)} cells"
    by_cell = {(r["model"]["spec"], r["dataset"]["spec"]): r["metrics"] for r in records["local"].values()}
    same_packed = [by_cell[(r["model"]["spec"], r["dataset"]["spec"])] == r["metrics"] for r in records["packed"].values()]
    out["packed_identical_quality_figures"] = f"{sum(same_packed)} of {len(same_packed)} cells"
    out["packed_cells_flagged_busy"] = sum(bool((r["timing"].get("load") or {}).get("busy"))
                                           for r in records["packed"].values())
    out["packed_speedup_over_ray"] = round(walls["ray"] / walls["packed"], 2)
    out["ray_start_seconds"] = round(ray_start, 2)
    for name, wall in walls.items():
        work = sum(r["timing"]["total_seconds"] for r in records[name].values())
        out[name] = {"grid_wall_seconds": round(wall, 1), "cells_total_seconds": round(work, 1)}
        if name != "packed":  # cells that overlap leave no per-cell overhead to subtract
            out[name]["overhead_seconds_per_cell"] = round((wall - work) / len(cells), 2)
    out["ray_overhead_over_local_per_cell"] = round(out["ray"]["overhead_seconds_per_cell"]
                                                    - out["local"]["overhead_seconds_per_cell"], 2)
    return out


def sharded_encode(model: str) -> dict:
    import numpy as np
    import ray

    from recbench.protocol.cache import EmbeddingCache
    from recbench.run.cells import Cell
    from recbench.protocol.settings import EvalSettings

    cells = [Cell.resolve(model, d, settings=EvalSettings(progress=False)) for d in CATALOGS]
    from recbench.run.catalog_encode import encode_catalogs

    runs, out = {}, {"model": model, "datasets": CATALOGS}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            runs[workers] = encode_catalogs(cells, workers=workers, executor="ray", threads=1,
                                            cache=EmbeddingCache(Path(tmp) / str(workers)), progress=True)
            out[f"workers_{workers}"] = {k: v for k, v in runs[workers].summary().items() if k != "catalogs"}
        files = {w: sorted(p.relative_to(Path(tmp) / str(w)) for p in (Path(tmp) / str(w)).rglob("*.npy"))
                 for w in (1, 2)}
        same_files = files[1] == files[2] and all(
            (Path(tmp) / "1" / f).read_bytes() == (Path(tmp) / "2" / f).read_bytes() for f in files[1])
    ray.shutdown()
    out["catalogs"] = [{k: v for k, v in c.items() if k != "cached"} for c in runs[1].catalogs]
    out["identical_vectors"] = bool(np.array_equal(runs[1].vectors, runs[2].vectors))
    out["identical_cache_entries"] = f"{same_files} ({len(files[1])} files)"
    out["speedup_2_over_1"] = round(runs[1].encode_seconds / runs[2].encode_seconds, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encode-model", default="sbert")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = {"what": "--executor ray vs local on one machine; sharded catalog encode with 1 and 2 Ray workers"}
    if not args.skip_grid:
        result["grid"] = compare_grids()
    result["sharded_encode"] = sharded_encode(args.encode_model)
    emit(result, args.out)


if __name__ == "__main__":
    main()
