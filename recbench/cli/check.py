"""``recbench check``: CI's regression gate, the smoke suite against its expected values."""

from __future__ import annotations

from pathlib import Path


import typer

from recbench.run.check import DEFAULT_SUITE
from recbench.cli.app import app, fail


@app.command(short_help="CI's regression gate: the smoke suite against its expected values.")
def check(
    suite: Path = typer.Option(DEFAULT_SUITE, help="a check suite: a suite file whose cells carry expected values"),
    update: bool = typer.Option(False, help="write the measured values as the new expected ones"),
) -> None:
    """CI's regression gate: run the smoke suite, compare with the expected values; exit 1 on
    a regression, printing cell, metric, expected, got and tolerance. Latency is reported only."""
    from tabulate import tabulate

    from recbench.run.check import load_check_suite, run_suite, update_suite

    try:
        spec = load_check_suite(suite)
    except ValueError as exc:
        fail(str(exc))
    rows, errors = run_suite(spec, on_cell=lambda name: typer.echo(f"check {name}", err=True))
    if update:
        update_suite(spec, rows)
        typer.echo(f"wrote the measured values into {suite}")
        return
    table = [[r.cell, r.metric, f"{r.expected:.4f}", "–" if r.got is None else f"{r.got:.4f}", f"±{r.tolerance:g}",
              "ok" if r.ok else "REGRESSION", "–" if r.p50_ms is None else f"{r.p50_ms:.2f}"] for r in rows]
    typer.echo(tabulate(table, headers=["cell", "metric", "expected", "got", "tolerance", "status",
                                        "p50 ms (not gated)"], tablefmt="github", disable_numparse=True))
    for name, message in errors:
        typer.secho(f"FAIL  {name}: {message}", fg=typer.colors.RED, err=True)
    bad = [r for r in rows if not r.ok]
    # the closing line in the plain "N passed, N failed" form that CI logs are read for
    typer.echo(f"check: {len(rows) - len(bad)} passed, {len(bad) + len(errors)} failed")
    if bad or errors:
        raise typer.Exit(1)
