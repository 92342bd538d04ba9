"""``recbench verify``: re-run recorded cells from their records; exit 1 when a figure does not repeat."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


import typer

from recbench.run.cells import CellError
from recbench.protocol.data import DataLocator
from recbench.protocol.registry import UnknownNameError
from recbench.cli.app import app, fail


@app.command(short_help="Re-run recorded cells from their records; exit 1 when a figure does not repeat.")
def verify(
    records: list[Path] = typer.Argument(..., help="run record(s) to re-run and check, or a folder of them"),
    reuse_checkpoint: bool = typer.Option(False, help="trained cells: load the cached checkpoint instead of "
                                          "training again (checks the evaluation only)"),
    data_dir: Optional[Path] = typer.Option(None, help="folder with the data (else $RECBENCH_DATA, then the cache)"),
    all_seeds: bool = typer.Option(False, help="trained rows: re-train every seed of the row found beside the "
                                   "record too; the tolerance is then 3 sd of the seeds re-trained now"),
    untrained: bool = typer.Option(False, help="of a folder's records, only the untrained ones"),
    quality_only: bool = typer.Option(False, help="re-run without the latency, offline and server scenarios "
                                      "(quality only; much faster over many records)"),
    sample: Optional[int] = typer.Option(None, help="of a folder's records, a seeded random sample of this many"),
    sample_seed: int = typer.Option(0, help="with --sample: the sample's seed (the same seed, the same records)"),
    max_seconds: Optional[float] = typer.Option(None, help="of a folder's records, only those whose cell took at "
                                                "most this long when recorded (a quick sample for CI)"),
) -> None:
    """Re-run each recorded cell from its record's cell section and print every metric recorded
    vs now, with the difference and the tolerance, which comes from the re-run, never from the
    record: untrained 1e-6; trained, the re-run's 95% interval half-width (--all-seeds: 3 sd of
    the row's seeds re-trained now). Each metric is also recomputed from the record's sidecar
    (checked against its sha256). A record whose model, dataset or training sections disagree
    with its cell fails. Version differences come first; latency is a ratio, reported only.
    Exits 1 when a quality figure does not repeat."""
    from tabulate import tabulate

    from recbench.results.records import RecordError
    from recbench.run.verify import verify_record

    from recbench.run.verify import select_records

    try:
        records = select_records(records, untrained, sample, sample_seed, max_seconds)
    except ValueError as exc:
        fail(str(exc))
    failed = 0
    for path in records:
        if not path.is_file():
            fail(f"{path}: no such record")
        typer.echo(f"verify {path}")
        try:
            v = verify_record(path, DataLocator(data_dir=data_dir), reuse_checkpoint, all_seeds, quality_only)
        except (RecordError, UnknownNameError, CellError, RuntimeError, ValueError) as exc:
            message = str(exc)
            typer.secho(f"FAIL  {message if message.startswith(str(path)) else f'{path}: {message}'}",
                        fg=typer.colors.RED, err=True)
            failed += 1
            continue
        if v.versions:
            typer.echo("  versions that differ from the record's: " + "; ".join(
                f"{name} {then} -> {now}" for name, then, now in v.versions))
        else:
            typer.echo("  versions: as recorded")
        if v.key_recorded and v.key_now != v.key_recorded and not quality_only:
            typer.echo(f"  note: the cell rebuilt from the record keys as {v.key_now}, the record says {v.key_recorded}")
        table = [[c.metric, _fmt(c.recorded), _fmt(c.now), _fmt(c.difference, signed=True), f"{c.tolerance:.2g}",
                  c.basis, "ok" if c.ok else "MISMATCH"] for c in v.checks]
        typer.echo(tabulate(table, headers=["metric", "recorded", "now", "difference", "tolerance", "basis", "status"],
                            tablefmt="github", disable_numparse=True))
        if v.latency_ratio is not None:
            typer.echo(f"  p50 latency now / recorded: {v.latency_ratio:.2f}x (a property of the machine; not judged)")
        typer.echo(f"  {v.label}: {'repeats' if v.ok else 'DOES NOT REPEAT'}")
        failed += not v.ok
    typer.echo(f"verify: {len(records) - failed} repeated, {failed} did not")
    if failed:
        raise typer.Exit(1)


def _fmt(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.6f}" if signed else f"{x:.6f}"
