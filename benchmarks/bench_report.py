"""How long `recbench report` takes over a results folder (issue 35's targets on the committed
board, this machine, nothing else running: under 20 s from nothing cached, under 3 s when nothing
changed, `report --site` under 30 s), each run a fresh process, this checkout's code beside
another's in one run.

    python benchmarks/bench_report.py --results-dir results --other /path/to/older/checkout \
        --out benchmarks/results/report.json

Per code and repeat, the records (and their sidecars) are copied into a private folder with no
cache, then three runs follow: **cold** (nothing cached: every pairwise test and plot computed),
**warm** (the same command again, nothing changed: what a user waits for after `git pull` with no
new record) and **site** (`--site` too, caches warm). ``--other`` names a source checkout (e.g.
``git worktree add /tmp/old <sha>``) whose ``recbench`` package is put first on PYTHONPATH for its
runs; the codes are interleaved per repeat so that a change in the machine's load falls on both.
Nothing in the results folder is written. Reported: min / median / max wall seconds per code and
phase, and the ratio of the medians."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit  # noqa: E402

HERE = Path(__file__).resolve().parent.parent
PHASES = ("cold", "warm", "site")


def timed(code: Path, results: Path, work: Path, site: bool) -> float:
    cmd = [sys.executable, "-c", "from recbench.cli import app; app()", "report", "--results-dir", str(results),
           "--out", f"{work}/leaderboard.md", "--plots-dir", f"{work}/plots"] + (["--site", f"{work}/site"] if site else [])
    env = {**os.environ, "PYTHONPATH": str(code), "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=work)
    return time.perf_counter() - start


def one_round(code: Path, source: Path, phases: tuple[str, ...] = PHASES) -> dict[str, float]:
    """Cold, warm and site runs of one code over a fresh copy of the records (``phases``: which)."""
    with tempfile.TemporaryDirectory() as tmp:
        results, work = Path(tmp) / "results", Path(tmp) / "work"
        results.mkdir()
        work.mkdir()
        for path in source.iterdir():  # the records and sidecars, never a cache
            if path.is_file() and path.suffix in (".json", ".npz"):
                shutil.copyfile(path, results / path.name)
        out = {}
        for phase in PHASES:  # in order: warm and site follow a cold run over the same folder
            if phase in phases or (phase == "cold" and len(phases) > 0):
                out[phase] = timed(code, results, work, phase == "site")
        return {p: out[p] for p in phases}


def summary(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    parser.add_argument("--other", type=Path, help="another checkout to time beside this one")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--other-phases", default=",".join(PHASES),
                        help="the phases timed for --other (e.g. cold: an old code with no cache has no warm run)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    codes = {"this": HERE} | ({"other": args.other.resolve()} if args.other else {})
    phases = {"this": PHASES, "other": tuple(p for p in PHASES if p in args.other_phases.split(","))}
    times: dict[str, dict[str, list[float]]] = {name: {p: [] for p in phases[name]} for name in codes}
    for _ in range(args.repeats):
        for name, code in codes.items():
            for phase, seconds in one_round(code, args.results_dir.resolve(), phases[name]).items():
                times[name][phase].append(seconds)
            print(f"{name}: " + ", ".join(f"{p} {times[name][p][-1]:.1f} s" for p in phases[name]), file=sys.stderr)
    result = {"results_dir": str(args.results_dir), "repeats": args.repeats,
              "seconds": {name: {p: summary(v) for p, v in phases.items()} for name, phases in times.items()}}
    if args.other:
        result["other_over_this"] = {p: round(statistics.median(times["other"][p]) / statistics.median(times["this"][p]), 2)
                                     for p in phases["other"]}
    emit(result, args.out)


if __name__ == "__main__":
    main()
