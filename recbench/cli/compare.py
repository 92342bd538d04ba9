"""``recbench compare``: the paired difference B - A over the queries two runs share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional


import typer

from recbench.results.records import user_results_dir
from recbench.cli.app import app, fail


def find_record(ref: str, results_dir: Path) -> Path:
    """A record by path, file name, or run id (unique prefix)."""
    p = Path(ref)
    if p.is_file():
        return p
    stem = ref[:-len(".json")] if ref.endswith(".json") else ref  # a file name as `ls` prints it
    matches = sorted(Path(results_dir).glob(f"*{stem}*.json"))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        fail(f"no run record matches {ref!r} in {results_dir}/ (give a path, a file name or a run id)")
    fail(f"{ref!r} matches {len(matches)} records in {results_dir}/: " + ", ".join(m.name for m in matches[:5]))
    raise AssertionError("unreachable")


@app.command(short_help="Paired difference B - A over the queries both runs share: interval and p-value.")
def compare(
    run_a: str = typer.Argument(..., help="record path, file name or run id"),
    run_b: str = typer.Argument(..., help="record path, file name or run id"),
    metric: Optional[str] = typer.Option(None, help="metric to compare (default: the primary one); "
                                         "ndcg@10\\[cold]: over the cold targets of the cold-item protocol"),
    results_dir: Optional[Path] = typer.Option(None, help="where to look up run ids (default $RECBENCH_RESULTS, "
                                               "else runs/)"),
    seed: int = typer.Option(0, help="seed of the bootstrap and the randomisation test"),
    seeds: bool = typer.Option(True, help="a trained row: compare all its training seeds found beside the record "
                               "(hierarchical bootstrap over seeds, then queries); --no-seeds: these two records only"),
    output_json: bool = typer.Option(False, "--json", help="print the comparison as JSON"),
) -> None:
    """Paired difference B - A over the queries both runs share: 95% interval and p-value. For
    trained rows with several seeds the test counts the seed-to-seed variance too (a
    hierarchical bootstrap: seeds, then queries); otherwise a paired bootstrap interval and a
    randomisation-test p-value over queries."""
    from recbench.results.records import RecordError, read_record
    from recbench.results.seeds import compare_rows, seed_siblings

    results_dir = results_dir or user_results_dir()
    pa, pb = find_record(run_a, results_dir), find_record(run_b, results_dir)
    try:
        group_a = seed_siblings(pa) if seeds else [pa]
        group_b = seed_siblings(pb) if seeds else [pb]
        c = compare_rows(group_a, group_b, metric, seed=seed)
    except RecordError as exc:
        fail(str(exc))
    if output_json:
        typer.echo(json.dumps(c.as_dict(), indent=2))
        return
    la, lb = read_record(pa)["model"]["label"], read_record(pb)["model"]["label"]
    verdict = "significant at 95%" if c.significant() else "NOT significant at 95%"
    sa = f" ({c.seeds_a} seeds)" if c.seeds_a > 1 else ""
    sb = f" ({c.seeds_b} seeds)" if c.seeds_b > 1 else ""
    typer.echo(f"{c.metric} on {c.shared_queries:,} shared queries; {c.method}\n"
               f"  A {la}{sa}: {figure(c.a)}\n  B {lb}{sb}: {figure(c.b)}\n"
               f"  B - A = {figure(c.difference, '+')}  95% CI [{figure(c.ci_low, '+')}, {figure(c.ci_high, '+')}]  "
               f"p = {c.p_value:.4f}  ({verdict})")


def figure(value: float, sign: str = "") -> str:
    """Four decimals, or two significant digits where four decimals would print a non-zero
    figure as 0.0000 (a difference of 2e-05 can be significant and must not read as none)."""
    if value != 0 and abs(value) < 5e-5:
        return f"{value:{sign}.1e}"
    return f"{value:{sign}.4f}"
