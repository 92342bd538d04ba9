"""Kill-during-write (issue 19's fault suite): a record, its sidecars, a cache entry, a
checkpoint or a resume state interrupted at any point leaves either the whole file or none, and
nothing a reader takes for one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from recbench.protocol import cache as cache_module
from recbench.protocol.cache import EmbeddingCache
from recbench.results.records import iter_records, read_per_query

from minimal_record import minimal_record

pytestmark = pytest.mark.integration  # model weights, training or a process per cell


WRITER = r"""
import json, sys, numpy as np
from recbench.results.records import write_record
folder, template = sys.argv[1], json.loads(sys.argv[2])
for i in range(10_000):
    rec = {**template, "run_id": f"r-{i:06d}"}
    write_record(rec, folder, {"query_id": np.arange(200_000), "x": np.random.default_rng(i).random(200_000)},
                 {"training": {"loss": np.arange(1000.0)}})
"""


def test_a_writer_killed_at_a_random_moment_leaves_only_whole_records(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), json.dumps(minimal_record())])
    deadline = time.time() + 60
    while time.time() < deadline and len(list(tmp_path.glob("*.json"))) < 3:
        time.sleep(0.05)
    time.sleep(0.137)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    records = list(iter_records(tmp_path))
    assert len(records) >= 3
    for path, rec in records:  # every record the reader sees is whole, with its sidecars
        assert len(read_per_query(path, rec)["x"]) == 200_000
        assert (tmp_path / rec["sidecars"]["training"]).is_file()


def test_an_interrupted_cache_write_leaves_no_entry_and_no_temp(tmp_path, monkeypatch):
    class M:
        name, params = "m", {}

    def boom(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module.os, "replace", boom)
    cache = EmbeddingCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cache.put(M(), ["a", "b"], np.ones((2, 3), np.float32))
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    monkeypatch.undo()
    assert cache.get(M(), ["a", "b"]) is None


def test_an_interrupted_checkpoint_or_resume_save_keeps_what_was_there(tmp_path):
    import torch

    from recbench.run.training import CheckpointCache, ResumeState, TrainingReport

    class Failing:
        name, params = "f", {}

        def save_checkpoint(self, folder):
            (folder / "half.pt").write_bytes(b"x" * 100)
            raise KeyboardInterrupt

    report = TrainingReport(1.0, 1, 1, 1, 1, 1, "auc", 0.5, 1.0, "1steps", "steps")
    ckpt = CheckpointCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(Failing(), "key", report, {})
    assert not list(tmp_path.iterdir())  # neither the folder nor its temporary

    state = ResumeState(tmp_path / ".resume-f-key.pt")
    state.save({"step": 1})
    original = torch.save

    def dying(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise KeyboardInterrupt

    torch.save = dying
    try:
        with pytest.raises(KeyboardInterrupt):
            state.save({"step": 2})
    finally:
        torch.save = original
    assert state.load() == {"step": 1} and [p.name for p in tmp_path.iterdir()] == [".resume-f-key.pt"]
