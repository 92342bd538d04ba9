"""``recbench encode``: encode datasets' item catalogs into the embedding cache ahead of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


import typer

from recbench.run.cells import CellError, plan
from recbench.protocol.data import DataLocator
from recbench.protocol.settings import EvalSettings
from recbench.protocol.registry import UnknownNameError
from recbench.protocol.progress import quiet_libraries
from recbench.cli.app import ExecutorName, app, fail, parse_options, split_list, split_specs


@app.command(short_help="Encode datasets' item catalogs into the embedding cache ahead of `recbench run`.")
def encode(
    model: str = typer.Option(..., "--model", "-m", help="one encoder, e.g. sbert"),
    dataset: list[str] = typer.Option(..., "--dataset", "-d", help="dataset(s) whose item catalogs to encode, "
                                      "comma-separated or repeated"),
    opt: list[str] = typer.Option([], "--opt", "-o", help="model option KEY=VALUE (repeatable)"),
    dataset_opt: list[str] = typer.Option([], "--dataset-option", "-D", help="dataset option KEY=VALUE (repeatable)"),
    fields: Optional[str] = typer.Option(None, help="item fields forming the text (as for `recbench run`)"),
    batch_size: int = typer.Option(32, help="encoding batch size"),
    executor: ExecutorName = typer.Option(ExecutorName.local, help="local (this process, one worker) | ray (a pool of encoder actors)"),
    workers: int = typer.Option(1, help="--executor ray: encoder actors"),
    threads: Optional[int] = typer.Option(None, help="threads per worker (on Ray also its declared CPUs; default "
                                          "1 there, the libraries' own here)"),
    shard_size: int = typer.Option(2048, help="texts per shard (a shard is encoded whole by one worker)"),
    address: Optional[str] = typer.Option(None, help="--executor ray: the cluster to join (default a local instance)"),
    overwrite: bool = typer.Option(False, help="encode catalogs that are cached already, replacing their entries"),
    data_dir: Optional[Path] = typer.Option(None, help="folder with the data (else $RECBENCH_DATA, then the cache)"),
    progress: bool = typer.Option(True, help="progress bar"),
) -> None:
    """Encode the item catalogs of one or more datasets ahead of `recbench run`, in shards over
    a pool of workers, into the embedding cache: the evaluation that follows finds every item
    cached. The distinct texts of all catalogs are encoded once; 1 or N workers give the same
    vectors. (Set $RECBENCH_CACHE to a shared folder when the cells run on other nodes.)"""
    from recbench.run.catalog_encode import encode_catalogs

    quiet_libraries(progress)
    settings = EvalSettings(batch_size=batch_size, fields=tuple(split_list(fields)) if fields else None,
                            progress=False)
    try:
        cells, unsupported = plan([model], split_specs(dataset), None, parse_options(opt), parse_options(dataset_opt),
                                  settings, None, None)
        for m, d, reason in unsupported:
            typer.echo(f"skip  {m} x {d}: {reason}")
        report = encode_catalogs(cells, DataLocator(data_dir=data_dir), workers, executor.value, address, threads,
                                 shard_size, overwrite=overwrite, progress=progress)
    except (UnknownNameError, CellError, RuntimeError, ValueError, ConnectionError) as exc:
        fail(str(exc))
    typer.echo(f"encoded {report.distinct_texts:,} distinct texts in {report.shards} shards with {workers} worker(s) "
               f"in {report.encode_seconds:.1f} s ({report.texts_per_second:,.0f} texts/s)")
    for c in report.catalogs:
        state = "cached before" if c.get("already") else "cached"
        typer.echo(f"  {c['dataset']} ({c['kind']}): {c['items']:,} items {state} -> {c['cached']}")
