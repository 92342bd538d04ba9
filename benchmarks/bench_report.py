"""How long `recbench report` takes over a results folder (issue 35's targets: the committed board
in seconds), each run a fresh process, this checkout's code beside another's in one run.

    python benchmarks/bench_report.py --results-dir results --other /path/to/older/checkout \
        --out benchmarks/results/report.json

``--other`` names a source checkout (e.g. ``git worktree add /tmp/old HEAD~1``) whose
``recbench`` package is put first on PYTHONPATH for its runs; the two are interleaved
(this, other, this, other ...) so a change in the machine's load falls on both. Each run writes
the Markdown board and its plots into a temporary folder; nothing in the results folder is
written. Reported: min / median / max wall seconds per code, and the ratio of the medians."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit  # noqa: E402

HERE = Path(__file__).resolve().parent.parent


def one_run(code: Path, results: Path, site: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-c", "from recbench.cli import app; app()", "report", "--results-dir", str(results),
               "--out", f"{tmp}/leaderboard.md", "--plots-dir", f"{tmp}/plots"] + (["--site", f"{tmp}/site"] if site else [])
        env = {**os.environ, "PYTHONPATH": str(code), "MPLBACKEND": "Agg"}
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=tmp)
        return time.perf_counter() - start


def summary(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    parser.add_argument("--other", type=Path, help="another checkout to time beside this one")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--site", action="store_true", help="time `report --site` too")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    codes = {"this": HERE} | ({"other": args.other.resolve()} if args.other else {})
    times: dict[str, list[float]] = {name: [] for name in codes}
    for _ in range(args.repeats):
        for name, code in codes.items():
            times[name].append(one_run(code, args.results_dir.resolve(), args.site))
            print(f"{name}: {times[name][-1]:.1f} s", file=sys.stderr)
    result = {"results_dir": str(args.results_dir), "site": args.site, "repeats": args.repeats,
              "seconds": {name: summary(v) for name, v in times.items()}}
    if args.other:
        result["other_over_this"] = round(statistics.median(times["other"]) / statistics.median(times["this"]), 2)
    emit(result, args.out)


if __name__ == "__main__":
    main()
