"""``recbench report``: the leaderboard (Markdown, csv or json), its pages and the static site."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


import typer

from recbench.results.records import user_results_dir
from recbench.cli.app import ReportFormat, app, fail


@app.command()
def report(
    results_dir: Optional[Path] = typer.Option(None, help="folder of run records (default $RECBENCH_RESULTS, else runs/)"),
    out: Optional[Path] = typer.Option(None, help="file to write (default RESULTS_DIR/leaderboard.md / .csv / .json)"),
    fmt: ReportFormat = typer.Option(ReportFormat.md, "--format", help="md (tables + plots) | csv | json (one row per cell)"),
    plots_dir: Optional[Path] = typer.Option(None, help="where plots go (default RESULTS_DIR/plots)"),
    significance: bool = typer.Option(True, help="mark rows not significantly different from the best"),
    budget: Optional[str] = typer.Option(None, help="print the latency-budget view instead: the best row per "
                                         "dataset within e.g. p99=5ms, qps=1000, bytes=512 (comma-joined), "
                                         "and what the next step up buys"),
    machine: Optional[str] = typer.Option(None, help="the board's machine: each dataset's comparisons (★, ≈, "
                                          "budget answers) use the rows timed on the machine whose description "
                                          "contains this, where it has any (default: the machine with most rows)"),
    site: Optional[Path] = typer.Option(None, help="also write the leaderboard as a static site into this folder "
                                        "(index, a page per task kind and per dataset, interactive plots, the "
                                        "budget view; works from file://)"),
) -> None:
    """Render the leaderboard from the run records (the newest run of each cell)."""
    from recbench.report.leaderboard import write_report

    fmt = fmt.value
    results_dir = results_dir or user_results_dir()
    if not results_dir.is_dir():
        fail(f"no run records: {results_dir}/ does not exist (run `recbench run` first, or give --results-dir; "
             "the project's leaderboard records are in results/)")
    if budget:
        from recbench.report.budget import BudgetError, budget_table, budget_view, parse_budget
        from recbench.results.rows import load

        try:
            limits = parse_budget(budget)
        except BudgetError as exc:
            fail(str(exc))
        frame = load(results_dir, machine=machine)  # each dataset's rows timed on one machine
        if frame.empty:
            fail(f"no run records in {results_dir}/: nothing to choose from (run `recbench run` first)")
        view = budget_view(frame, limits, machine)
        if view.empty:
            fail(f"no leaderboard row in {results_dir}/" + (f" measured on a machine matching {machine!r}" if machine else ""))
        typer.echo(f"budget: {' and '.join(l.describe() for l in limits)}" + (f"; machine ~ {machine}" if machine else ""))
        typer.echo(budget_table(view, limits, markdown=False))
        return
    target = out or results_dir / f"leaderboard.{fmt}"
    from recbench.report.leaderboard import check_report_target

    try:
        check_report_target(target, fmt)
    except ValueError as exc:
        fail(str(exc))
    if site is not None:  # refused before anything is written: a site never lands over what it did not create
        from recbench.report.site.build import SiteTargetError, check_site_target

        try:
            check_site_target(results_dir, site)
        except SiteTargetError as exc:
            fail(str(exc))
    try:
        path = write_report(results_dir, target, fmt, plots_dir, significance, machine)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"wrote {path}")
    if site is not None:
        from recbench.report.site.build import build_site

        try:
            index = build_site(results_dir, site, significance)
        except ValueError as exc:
            fail(str(exc))
        typer.echo(f"wrote the site: {index} (open it in a browser; it needs no server)")
