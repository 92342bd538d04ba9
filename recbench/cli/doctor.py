"""``recbench doctor``: this installation against the tested ranges, the board's versions, the
data and the browser."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


import typer

from recbench.protocol.data import DataLocator
from recbench.cli.app import app, fail


@app.command(short_help="This installation against the tested ranges, the board's versions, the data and the browser.")
def doctor(
    records: list[Path] = typer.Argument(None, help="run record(s): which of their versions differ from these"),
    data_dir: Optional[Path] = typer.Option(None, help="also look for data here"),
    constraints: Optional[Path] = typer.Option(None, help="the constraints file pinning the board's versions "
                                               "(default: constraints.txt of the source checkout)"),
) -> None:
    """Prints the installed version of every dependency against the range recbench declares and
    tests, and against constraints.txt (the versions the committed board was made with); the
    datasets the look-up finds; whether Chromium and Playwright are there for the site's tests;
    and, for each record given, the versions it was made with that differ from these. Exit 1
    when a core dependency is missing or outside its range."""
    from tabulate import tabulate

    from recbench.run import doctor as dr
    from recbench.results.records import RecordError, read_record
    from recbench.run.verify import version_differences

    for line in dr.environment_lines():
        typer.echo(line)
    pins_path = constraints or dr.find_constraints()
    if constraints is not None and not constraints.is_file():
        fail(f"--constraints {constraints}: no such file")
    pins = dr.read_constraints(pins_path)
    checks = dr.package_checks(pins)
    typer.echo("")
    typer.echo(tabulate([[c.name + (f" [{c.extra}]" if c.extra else ""), c.installed or "–", c.declared, c.status,
                          c.pinned or "–", {True: "same", False: "differs", None: "–"}[c.matches_board]] for c in checks],
                        headers=["package", "installed", "tested range", "status", "board's", "vs board"],
                        tablefmt="github", disable_numparse=True))
    typer.echo(f"board's versions: {pins_path or 'no constraints.txt found (it is at the root of a source checkout)'}"
               + ("; to reproduce a committed figure to the digit: pip install -c constraints.txt -e ." if pins else ""))
    found = dr.data_status(DataLocator(data_dir=data_dir, allow_download=False))
    present = [name for name, _, ok in found if ok]
    absent = [name for name, _, ok in found if ok is False]
    typer.echo(f"\ndata: {len(present)} of {len(present) + len(absent)} datasets found"
               + (f"; not found: {', '.join(absent)}" if absent else "")
               + " (recbench datasets: where each comes from)")
    chromium, has_playwright = dr.browser_status()
    typer.echo(f"browser tests: chromium {chromium or 'not found (apt-get install chromium)'}; "
               f"playwright {'installed' if has_playwright else 'not installed (the [test] extra)'}"
               + ("" if chromium and has_playwright else ": tests/test_site.py will skip"))
    for path in records or []:
        try:
            diffs = version_differences(read_record(path))
        except (RecordError, OSError) as exc:
            typer.secho(f"{path}: cannot read: {exc}", fg=typer.colors.RED, err=True)
            continue
        typer.echo(f"\n{path}: " + ("made with these versions" if not diffs else "made with " + "; ".join(
            f"{name} {then} (now {now})" for name, then, now in diffs)))
    bad = [c for c in checks if c.blocking]
    if not dr.python_ok() or bad:
        typer.secho("doctor: " + ", ".join([f"{c.name} {c.installed or 'missing'} (wants {c.declared})" for c in bad]
                                          + ([] if dr.python_ok() else ["python outside requires-python"])),
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
