"""A grid survives: Ctrl-C leaves no half record, and the next run does only what is missing."""

import os
import signal
import subprocess
import sys

import pytest
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def start_grid(cwd, env):
    return subprocess.Popen(
        [sys.executable, "-m", "recbench.cli", "run", "--model", "random,glove-avg,sif,random",
         "--dataset", "lee", "--n-bootstrap", "50", "--latency-queries", "5", "--no-progress"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        # a runner that started us in the background (SIGINT ignored) must not make Ctrl-C a no-op here
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.integration
def test_interrupted_grid_resumes_with_only_the_missing_cells(tmp_path):
    # the checkout under test, whatever an installed recbench points to
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = start_grid(tmp_path, env)
    lines = []
    deadline = time.time() + 120
    while time.time() < deadline:  # wait for the first finished cell, then press Ctrl-C
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("done"):
            break
    os.killpg(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(lines) + rest
    assert "interrupted:" in rest
    records = sorted(p.name for p in (tmp_path / "runs").glob("*.json"))
    assert 1 <= len(records) < 3
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".tmp")]  # no half record

    again = subprocess.run(
        [sys.executable, "-m", "recbench.cli", "run", "--model", "random,glove-avg,sif,random",
         "--dataset", "lee", "--n-bootstrap", "50", "--latency-queries", "5", "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    skipped = again.stdout.count("skip  ")
    ran = again.stdout.count("done  ")
    # random appears twice in the grid: the same configuration, recorded once, skipped after
    assert skipped == len(records) + 1 and ran == 3 - len(records)
    assert f"grid: {ran} run, {skipped} skipped" in again.stdout
    recorded_skips = [l for l in again.stdout.splitlines() if l.startswith("skip  ") and "recorded before" in l]
    # a cell recorded before this grid shows its figure (random's second occurrence too, when recorded)
    assert len(recorded_skips) >= len(records) and all("pearson" in l and ".json" in l for l in recorded_skips)
    assert len(list((tmp_path / "runs").glob("*.json"))) == 3


def test_a_record_of_an_older_model_version_does_not_count_as_recorded(tmp_path):
    from recbench.run.cells import Cell
    from recbench.run.grid import current_records
    from recbench.protocol.registry import baselines

    cell = Cell.resolve("biencoder", "ml100k-mix")
    version = baselines.get("biencoder").version
    same = {cell.key: (tmp_path / "a.json", {"model": {"version": version}})}
    older = {cell.key: (tmp_path / "a.json", {"model": {"version": None}})}
    assert current_records(same, [cell]) == same and current_records(older, [cell]) == {}
    unversioned = Cell.resolve("sif", "lee")  # a model without a version: any record of the key counts
    assert current_records({unversioned.key: (tmp_path / "b.json", {"model": {}})}, [unversioned])


def test_any_executor_yields_runs_and_the_driver_alone_writes(tmp_path):
    """The Executor interface: an in-memory executor hands finished runs back; run_grid writes
    them, counts an executor's failure, and reports outcomes with the Status enum."""
    from recbench.run.cells import Cell
    from recbench.protocol.settings import EvalSettings
    from recbench.run.executor import Finished, Status
    from recbench.run.grid import run_grid
    from recbench.run.runner import compute_run

    settings = EvalSettings(n_bootstrap=20, latency_queries=0, offline_texts=0, progress=False)
    ok = Cell.resolve("random", "lee", settings=settings)
    bad = Cell.resolve("glove-avg", "lee", settings=settings)

    class InMemory:
        name = "in-memory"
        written_by_me = []

        def finished(self, cells, locator, on_start=None):
            for cell in cells:
                if cell is bad:
                    yield Finished(cell, None, "this executor refuses glove")
                else:
                    yield Finished(cell, compute_run(cell, locator))

    counts = run_grid([ok, bad, ok], results_dir=tmp_path, executor=InMemory())
    assert (counts.done, counts.failed, counts.skipped) == (1, 1, 1)  # the repeat runs once
    assert [o.status for o in counts.outcomes] == [Status.OK, Status.ERROR, Status.SKIPPED]
    assert counts.outcomes[0].status == "ok"  # a str enum: older callers still read it
    assert len(list(tmp_path.glob("lee__random__*.json"))) == 1
    assert "refuses glove" in counts.outcomes[1].message
