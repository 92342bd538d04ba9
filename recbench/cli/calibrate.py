"""``recbench calibrate``: measure this machine's speed once; later run records carry it."""

from __future__ import annotations


import typer

from recbench.cli.app import app, fail


@app.command(short_help="Measure this machine's speed once (~10 s); every later run record carries it.")
def calibrate(
    seconds: float = typer.Option(3.0, help="seconds per workload"),
) -> None:
    """A fixed single-thread probe of this machine: MiniLM sentences/s, BLAS GFLOP/s and an exact
    flat-search rate. Cached per machine; every run record made here afterwards carries it in
    environment.calibration, and the board shows it beside the machine's name, so two machines'
    latencies can be judged against each other."""
    from recbench.protocol.calibration import describe, probe, store
    from recbench.protocol.timing import Environment

    if not seconds > 0:
        fail("--seconds must be above 0")
    fingerprint = Environment().fingerprint()
    figures = probe(seconds)
    path = store(fingerprint, figures)
    typer.echo(f"{fingerprint}: {describe(figures)}")
    typer.echo(f"kept in {path}; run records made here now carry it")
