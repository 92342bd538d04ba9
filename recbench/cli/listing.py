"""``recbench list``: the registered models, datasets and task kinds, and which run together."""

from __future__ import annotations

import textwrap


import typer

from recbench.protocol.kinds.base import all_kinds, supports
from recbench.protocol.registry import baselines, datasets
from recbench.cli.app import app


@app.command("list")
def list_models() -> None:
    """Which model runs on which dataset (the compatibility matrix)."""
    from tabulate import tabulate

    dnames = []
    kinds = {}
    broken = []
    for entry in datasets:
        try:
            kinds[entry.name] = entry.load().kind
            dnames.append(entry.name)
        except RuntimeError as exc:  # a plugin that cannot load is named, not fatal
            broken.append(str(exc))
    kind_names = [k.name for k in all_kinds() if k.name in set(kinds.values())]
    rows = []
    for entry in baselines:
        try:
            factory = entry.load()
        except RuntimeError as exc:
            broken.append(str(exc))
            continue
        rows.append([entry.name, entry.source, *["yes" if supports(factory, k) else "–" for k in kind_names]])
    # models x task kinds (what a model can run depends on the dataset's kind only), then each
    # kind's datasets: two tables that fit 80 columns however many datasets there are; where
    # a plugin adds models, a column says which (built-in ones are left blank)
    plugins = any(r[1] != "built-in" for r in rows)
    rows = [[r[0], "" if r[1] == "built-in" else r[1], *r[2:]] if plugins else [r[0], *r[2:]] for r in rows]
    typer.echo(tabulate(rows, headers=["model", *(["from"] if plugins else []), *kind_names], tablefmt="simple"))
    typer.echo("")
    by_kind = [[k, textwrap.fill(", ".join(d for d in dnames if kinds[d] == k), 56)] for k in kind_names]
    typer.echo(tabulate(by_kind, headers=["task kind", "datasets"], tablefmt="simple"))
    for message in broken:
        typer.secho(f"not loaded: {message}", fg=typer.colors.YELLOW, err=True)
