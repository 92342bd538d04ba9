"""A full disk (issue 34): the cell whose record cannot be written fails with a clear message,
no temp file survives the process, and the grid goes on to its summary. It used to crash the
grid with a traceback, leave a `.tmp-*.npz` filling the disk, skip the remaining cells and
print no summary."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from recbench.run.cells import Cell
from recbench.run.grid import run_grid
from recbench.protocol.registry import datasets

from test_every_model_smoke import QUICK, dataset_of


@pytest.fixture()
def toy_pairs():
    datasets.add("disk-pairs", dataset_of("pairs"))
    yield "disk-pairs"
    datasets.remove("disk-pairs")


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_fails_each_cell_clearly_leaves_no_temp_file_and_the_grid_ends_with_its_summary(
        tmp_path, toy_pairs, isolated_cache, monkeypatch):
    runs = tmp_path / "runs"
    cells = [Cell.resolve(m, toy_pairs, settings=QUICK) for m in ("random", "glove-avg")]
    monkeypatch.setattr(np, "savez_compressed", full_disk)  # the sidecar's write: the disk fills mid-write
    seen = []
    counts = run_grid(cells, results_dir=runs, isolate=False, on_outcome=seen.append)
    assert counts.failed == 2 and counts.done == 0 and len(seen) == 2  # every cell was tried and reported
    assert all("the disk is full" in o.message and "could not write its record" in o.message for o in seen)
    assert [p.name for p in runs.iterdir()] == []  # no record, no sidecar, no .tmp-* left to fill the disk


def test_a_full_disk_while_writing_the_json_removes_the_sidecar_it_wrote(tmp_path, toy_pairs, isolated_cache, monkeypatch):
    import os

    runs = tmp_path / "runs"
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] == 2:  # the sidecar's fsync passes, the record's fails
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    counts = run_grid([Cell.resolve("random", toy_pairs, settings=QUICK)], results_dir=runs, isolate=False)
    assert counts.failed == 1 and [p.name for p in runs.iterdir()] == []


def test_a_plugin_whose_params_are_not_json_fails_its_cell_naming_the_field_and_the_grid_goes_on(
        tmp_path, toy_pairs, isolated_cache):
    from recbench.protocol.registry import baselines

    class ArrayParams:
        name = "array-params"

        @property
        def params(self):
            return {"weights": np.ones(3), "nested": {"ok": 1}}

        def __init__(self, arg=None):
            pass

        def encode(self, texts, batch_size=32):
            return np.random.default_rng(0).normal(size=(len(texts), 4)).astype(np.float32)

    baselines.add("array-params", ArrayParams)
    try:
        cells = [Cell.resolve(m, toy_pairs, settings=QUICK) for m in ("array-params", "random")]
        seen = []
        counts = run_grid(cells, results_dir=tmp_path / "runs", isolate=False, on_outcome=seen.append)
    finally:
        baselines.remove("array-params")
    assert counts.failed == 1 and counts.done == 1
    assert "params['weights'] is a ndarray" in seen[0].message
