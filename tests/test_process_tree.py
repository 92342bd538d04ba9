"""One process tree (issue 19): SIGTERM ends a run as Ctrl-C does, and a cell's process dies with
the `recbench run` that started it, even by SIGKILL, so no record appears after the run is gone.
Also the command line's lists: a pairs spec's '#...' part keeps its commas."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recbench.cli.app import split_specs


pytestmark = pytest.mark.integration  # model weights, training or a process per cell


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_slow_cell(results: Path) -> tuple[subprocess.Popen, int]:
    """`recbench run` of a cell that takes many seconds; returns the run and its cell's process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.Popen([sys.executable, "-m", "recbench.cli", "run", "-m", "sbert", "-d", "sts-b",
                            "--latency-queries", "3000", "--results-dir", str(results), "--no-progress"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        kids = [k for k in children(run.pid) if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text(errors="ignore")]
        if kids:
            time.sleep(2.0)  # the cell is loading and encoding
            return run, kids[0]
        time.sleep(0.2)
    run.kill()
    pytest.fail("the cell's process did not start")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_the_cells_process_dies_with_the_run_and_writes_nothing(tmp_path, how):
    run, cell = start_slow_cell(tmp_path)
    run.send_signal(getattr(signal, how))
    output, _ = run.communicate(timeout=60)
    deadline = time.time() + 15
    while alive(cell) and time.time() < deadline:
        time.sleep(0.2)
    assert not alive(cell), f"the cell's process outlived the run ({how})"
    if how == "SIGTERM":
        assert run.returncode == 130 and "interrupted" in output
    time.sleep(1.0)
    assert not list(tmp_path.glob("*.json")), "a record appeared after the run was gone"


def test_lists_split_at_top_level_commas_and_a_hash_part_keeps_its_commas():
    assert split_specs(["sif,sbert"]) == ["sif", "sbert"]
    assert split_specs(["lee, pairs:my.csv#sentence1,sentence2,score"]) == ["lee", "pairs:my.csv#sentence1,sentence2,score"]
    assert split_specs(["pairs:a.csv#x,y,s", "sts-b"]) == ["pairs:a.csv#x,y,s", "sts-b"]
    with pytest.raises(Exception, match="must follow a spec"):
        split_specs(["lee,#x,y"])


def test_a_pairs_file_with_a_byte_order_mark_is_read(tmp_path):
    from recbench.protocol.data import DataLocator
    from recbench.run.runner import build_dataset

    path = tmp_path / "pairs.csv"
    rows = "s1,s2,score\na cat sits,a cat is sitting,4.5\na dog runs,stocks fell,0.5\nrain today,it rains,4\n"
    path.write_bytes(b"\xef\xbb\xbf" + rows.encode())
    task = build_dataset(f"pairs:{path}#s1,s2,score", DataLocator()).load()
    assert len(task) == 3
