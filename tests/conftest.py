"""Test settings: never touch a hub or the network; real data from ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["RECBENCH_OFFLINE"] = "1"  # tests never download; download code is tested on file:// URLs
if not os.environ.get("RECBENCH_DATA") and (REPO.parent / "shared" / "data").is_dir():
    os.environ["RECBENCH_DATA"] = str(REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The shared real data; tests that need it are skipped (with the reason) where it is absent."""
    root = os.environ.get("RECBENCH_DATA")
    if not root or not (Path(root) / "sts" / "stsbenchmark" / "sts-test.csv").is_file():
        pytest.skip("real data not found: set RECBENCH_DATA to the shared data folder")
    return Path(root)


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("RECBENCH_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def local_ray():
    """A local Ray instance on 2 CPUs for the executor tests (skipped where Ray is absent)."""
    ray = pytest.importorskip("ray")
    from recbench.benchmark.ray_executor import connect

    yield connect(num_cpus=2)
    ray.shutdown()
