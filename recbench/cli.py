"""The `recbench` command: parse, then call into recbench.benchmark."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from recbench.benchmark.data import DataLocator, DataNotFoundError
from recbench.benchmark.evaluate import EvalSettings, EvaluationError, supports
from recbench.benchmark.registry import UnknownNameError, baselines, datasets, split_spec
from recbench.benchmark.runner import accepted_options, run_cell

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Benchmark text recommenders and sentence embeddings: quality with intervals, latency measured seriously.")


def parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_options(opts: list[str]) -> dict[str, Any]:
    out = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--opt takes KEY=VALUE, got {opt!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@app.command()
def run(
    model: str = typer.Option(..., "--model", "-m", help="baseline(s), comma-separated: sif,sbert,sbert:/path/to/model"),
    dataset: str = typer.Option(..., "--dataset", "-d", help="dataset(s), comma-separated: lee,sts-b,pairs:my.csv"),
    split: Optional[str] = typer.Option(None, help="split (default: each dataset's own, e.g. test)"),
    opt: list[str] = typer.Option([], "--opt", "-o", help="model option KEY=VALUE (repeatable), e.g. -o pc=reference"),
    dataset_opt: list[str] = typer.Option([], "--dataset-option", "-D",
                                          help="dataset option KEY=VALUE (repeatable), e.g. -D on_missing=drop"),
    pooling: str = typer.Option("mean", help="user profile from history embeddings: mean | topk | mix "
                                "(impressions) | recency (sequences)"),
    topk: int = typer.Option(3, help="impressions: k of top-k pooling"),
    fields: Optional[str] = typer.Option(None, help="impressions: item fields forming the text, e.g. title,abstract "
                                         "(default: the dataset's, title for MIND)"),
    cache: bool = typer.Option(True, help="impressions: reuse item embeddings cached on disk (--no-cache re-encodes)"),
    batch_size: int = typer.Option(32, help="encoding batch size"),
    seed: int = typer.Option(0, help="seed for bootstrap resampling and random baselines"),
    n_bootstrap: int = typer.Option(1000, help="bootstrap resamples for the 95% intervals"),
    latency_queries: int = typer.Option(200, help="queries timed one at a time for p50/p95/p99"),
    data_dir: Optional[Path] = typer.Option(None, help="folder with the data (else $RECBENCH_DATA, then the cache)"),
    results_dir: Path = typer.Option(Path("results"), help="where run records are written"),
    progress: bool = typer.Option(True, help="progress bars"),
    isolate: bool = typer.Option(True, help="run each cell in a fresh process, so its load time, latency and "
                                 "peak memory are its own (asv-style); --no-isolate shares one process"),
) -> None:
    """Run every model on every dataset and write one run record per cell."""
    options = parse_options(opt)
    dataset_options = parse_options(dataset_opt)
    models, dsets = split_list(model), split_list(dataset)
    try:
        factories = {m: baselines.get(m) for m in models}
        dataset_classes = {d: datasets.get(d) for d in dsets}
    except (UnknownNameError, RuntimeError) as exc:
        fail(str(exc))
    for key in options:
        takers = [m for m, f in factories.items() if (acc := accepted_options(f)) is None or key in acc]
        if not takers:
            fail(f"option {key!r} is accepted by none of the models {', '.join(models)}")
    for key in dataset_options:
        takers = [d for d, c in dataset_classes.items() if (acc := accepted_options(c)) is None or key in acc]
        if not takers:
            fail(f"dataset option {key!r} is accepted by none of the datasets {', '.join(dsets)}")
    if pooling not in ("mean", "topk", "mix", "recency"):
        fail(f"--pooling must be mean, topk, mix or recency, not {pooling!r}")
    settings = EvalSettings(batch_size=batch_size, seed=seed, n_bootstrap=n_bootstrap,
                            latency_queries=latency_queries, progress=progress, pooling=pooling, topk=topk,
                            fields=tuple(split_list(fields)) if fields else None, use_cache=cache)
    locator = DataLocator(data_dir=data_dir)
    failures = 0
    for d in dsets:
        kind = dataset_classes[d].kind
        for m in models:
            if not supports(factories[m], kind):
                typer.echo(f"skip  {m} x {d}: {m} cannot run {kind!r} tasks")
                continue
            outcome = run_one(m, d, split, options, settings, locator, results_dir, isolate, dataset_options)
            if outcome["status"] != "ok":
                failures += 1
                typer.secho(f"FAIL  {m} x {d}: {outcome['message']}", fg=typer.colors.RED, err=True)
                continue
            typer.echo(f"done  {outcome['summary']}")
    if failures:
        raise typer.Exit(1)


EXPECTED_ERRORS = (DataNotFoundError, FileNotFoundError, ValueError, EvaluationError, RuntimeError)


def _throughput(timing: dict[str, Any]) -> str:
    if timing.get("embedding_cache_hit"):
        return "embeddings from cache"
    rate = timing.get("texts_per_second")
    return f"{rate:,.0f} texts/s" if rate else "no encoding"


def summarise(record: dict[str, Any], path: Path | None) -> str:
    pm = record["primary_metric"]
    est = record["metrics"][pm]
    lat = record["timing"].get("latency", {})
    d = 2 if abs(est["value"]) > 1.5 else 4  # correlations are x100; rates need more digits
    return (
        f"{record['model']['label']} x {record['dataset']['name']} ({record['dataset']['split']}): "
        f"{pm} {est['value']:.{d}f} [{est['ci_low']:.{d}f}, {est['ci_high']:.{d}f}]  "
        f"{_throughput(record['timing'])}  p50 {lat.get('p50_ms', float('nan')):.2f} ms  -> {path}"
    )


def _cell(model: str, dataset: str, split: str | None, options: dict[str, Any], settings: EvalSettings,
          locator: DataLocator, results_dir: Path, dataset_options: dict[str, Any]) -> dict[str, Any]:
    try:
        cell = run_cell(model, dataset, split=split, options=options, settings=settings, locator=locator,
                        results_dir=results_dir, dataset_options=dataset_options)
    except EXPECTED_ERRORS as exc:
        return {"status": "error", "message": str(exc)}
    return {"status": "ok", "summary": summarise(cell.record, cell.path)}


def _cell_in_child(queue: Any, *args: Any) -> None:
    try:
        queue.put(_cell(*args))
    except KeyboardInterrupt:
        queue.put({"status": "interrupted", "message": "interrupted"})
    except BaseException as exc:  # report, never hang the parent
        queue.put({"status": "error", "message": f"{type(exc).__name__}: {exc}"})


def run_one(model: str, dataset: str, split: str | None, options: dict[str, Any], settings: EvalSettings,
            locator: DataLocator, results_dir: Path, isolate: bool, dataset_options: dict[str, Any]) -> dict[str, Any]:
    """One cell, in a fresh process when ``isolate``: imports, caches and memory of earlier
    cells then cannot flatter or burden its timings."""
    args = (model, dataset, split, options, settings, locator, results_dir, dataset_options)
    if not isolate:
        return _cell(*args)
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_cell_in_child, args=(queue, *args))
    child.start()
    try:
        while True:
            try:
                return queue.get(timeout=1.0)
            except Exception:  # queue.Empty: still running?
                if not child.is_alive():
                    return {"status": "error", "message": f"the cell's process died (exit code {child.exitcode})"}
    except KeyboardInterrupt:
        child.terminate()
        raise
    finally:
        child.join(timeout=10)


@app.command()
def report(
    results_dir: Path = typer.Option(Path("results"), help="folder of run records"),
    out: Path = typer.Option(Path("leaderboard.md"), help="markdown file to write"),
) -> None:
    """Render leaderboard.md from the run records."""
    from recbench.benchmark.report import write_leaderboard

    path = write_leaderboard(results_dir, out)
    typer.echo(f"wrote {path}")


@app.command("list")
def list_models() -> None:
    """Which model runs on which dataset (the compatibility matrix)."""
    from tabulate import tabulate

    dnames = datasets.names()
    rows = []
    for entry in baselines:
        factory = entry.load()
        rows.append([entry.name, entry.source,
                     *["yes" if supports(factory, datasets.get(d).kind) else "–" for d in dnames]])
    typer.echo(tabulate(rows, headers=["model", "from", *dnames], tablefmt="github"))


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
            found = [locator.find(s) for s in sources]
            present = "yes: " + ", ".join(str(f) for f in found) if all(found) else "no"
            where = "; ".join(s.url or s.homepage or s.subdir for s in sources)
        rows.append([entry.name, cls.kind, present, where, cls.description])
    typer.echo(tabulate(rows, headers=["dataset", "kind", "present", "source", "what"], tablefmt="github"))


@datasets_app.command("build-impressions")
def build_impressions_cmd(
    source: str = typer.Argument(..., help="interaction log: ml100k | amazon-scientific"),
    out: Path = typer.Option(..., "--out", help="folder to write train/ and dev/ (MIND format) into"),
    negatives: int = typer.Option(20, help="negatives per impression"),
    window: int = typer.Option(500, help="negatives come from this many engagements before and after"),
    max_history: int = typer.Option(50, help="history items kept (the most recent)"),
    seed: int = typer.Option(0, help="seed for negative sampling and candidate order"),
    data_dir: Optional[Path] = typer.Option(None, help="folder with the source data"),
) -> None:
    """Write Mix-style impressions (MIND's news.tsv / behaviors.tsv) from an interaction log."""
    from recbench.datasets.mix import MixRecipe, build_impressions, load_source

    if (out / "dev" / "behaviors.tsv").exists():
        fail(f"{out} already holds impressions; choose an empty folder (nothing is overwritten)")
    try:
        log = load_source(source, DataLocator(data_dir=data_dir))
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    stats = build_impressions(log, out, MixRecipe(negatives, window, max_history, seed))
    typer.echo(json.dumps(stats, indent=2))
    typer.echo(f"wrote {out}/train and {out}/dev; run it with --dataset mind:{out}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
