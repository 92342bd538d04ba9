"""``recbench datasets``: where each dataset comes from, whether it is present, and building
impressions from an interaction log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional


import typer

from recbench.protocol.data import DataLocator
from recbench.protocol.registry import datasets
from recbench.cli.app import app, fail


datasets_app = typer.Typer(help="Where each dataset comes from and whether it is present; build datasets.")
app.add_typer(datasets_app, name="datasets")


@datasets_app.callback(invoke_without_command=True)
def list_datasets(ctx: typer.Context, data_dir: Optional[Path] = typer.Option(None, help="also look here")) -> None:
    """Where each dataset comes from and whether its files are present."""
    if ctx.invoked_subcommand is not None:
        return
    from tabulate import tabulate

    locator = DataLocator(data_dir=data_dir, allow_download=False)
    rows = []
    for entry in datasets:
        cls = entry.load()
        ds = cls(name=entry.name, locator=locator)
        sources = ds.sources()
        if not sources:
            where, present = "(a path you give: name:PATH)", "–"
        else:
            found = ds.present()
            present = "yes: " + ", ".join(str(f) for f in found) if all(found) else "no"
            where = "; ".join(s.url or s.homepage or s.subdir for s in sources)
        rows.append([entry.name, cls.kind, present, where, cls.description])
    typer.echo(tabulate(rows, headers=["dataset", "kind", "present", "source", "what"], tablefmt="github"))


@datasets_app.command("build-impressions")
def build_impressions_cmd(
    source: str = typer.Argument(..., help="interaction log: ml100k | amazon-scientific | interactions:DIR (your "
                                 "interactions.csv + items.csv)"),
    out: Path = typer.Option(..., "--out", help="folder to write train/ and dev/ (MIND format) into"),
    negatives: int = typer.Option(20, help="negatives per impression"),
    window: int = typer.Option(500, help="negatives come from this many engagements before and after"),
    max_history: int = typer.Option(50, help="history items kept (the most recent)"),
    seed: int = typer.Option(0, help="seed for negative sampling and candidate order"),
    data_dir: Optional[Path] = typer.Option(None, help="folder with the source data"),
) -> None:
    """Write Mix-style impressions (MIND's news.tsv / behaviors.tsv) from an interaction log."""
    from recbench.datasets._logs import load_source
    from recbench.datasets.mix import MixRecipe, build_impressions

    if (out / "dev" / "behaviors.tsv").exists():
        fail(f"{out} already holds impressions; choose an empty folder (nothing is overwritten)")
    try:
        recipe = MixRecipe(negatives, window, max_history, seed)
    except ValueError as exc:
        fail(str(exc).replace("impressions recipe: ", "--").replace("max_history", "max-history"))
    try:
        log = load_source(source, DataLocator(data_dir=data_dir))
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    if len(log.items) == 0:
        fail(f"{source}: no engagements to build impressions from")
    stats = build_impressions(log, out, recipe)
    typer.echo(json.dumps(stats, indent=2))
    typer.echo(f"wrote {out}/train and {out}/dev; run it with --dataset mind:{out}")
