"""Test settings: never touch a hub or the network; real data from ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Two layers. The unit layer (`pytest -m "not integration"`) runs on in-memory tasks, tiny
# fixtures and mock models: no shared data, no model weights, no process per cell, no Ray; it is
# the quick loop of development. The integration layer is everything else: a test that uses the
# real data or Ray (by fixture) or is marked `integration` / `slow`. `.ci/run` runs both.
INTEGRATION_FIXTURES = {"real_data", "local_ray"}
UNIT_LAYER_ONLY = False


def pytest_configure(config: pytest.Config) -> None:
    global UNIT_LAYER_ONLY
    UNIT_LAYER_ONLY = config.getoption("markexpr", "").replace(" ", "") == "notintegration"
    if UNIT_LAYER_ONLY:  # a unit test that reaches for the shared data fails, instead of passing by luck
        os.environ["RECBENCH_DATA"] = str(REPO / "tests" / "no-shared-data-in-the-unit-layer")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.integration)


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["RECBENCH_OFFLINE"] = "1"  # tests never download; download code is tested on file:// URLs
if not os.environ.get("RECBENCH_DATA") and (REPO.parent / "shared" / "data").is_dir():  # noqa: SIM102
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
    from recbench.run.ray_executor import connect

    yield connect(num_cpus=2)
    ray.shutdown()
