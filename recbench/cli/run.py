"""``recbench run``: one cell or a grid of cells, each writing one run record."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Tuple


import typer

from recbench.results.cell_spec import Matrix, setting_defaults
from recbench.results.run_record import RunRecord
from recbench.run.cells import Cell, CellError, check_options_taken, parse_train_seeds, plan_specs
from recbench.protocol.data import DataLocator
from recbench.run.grid import GridInterrupted, Outcome, run_grid
from recbench.protocol.registry import UnknownNameError
from recbench.results.records import user_results_dir
from recbench.run.training import Budget
from recbench.protocol.progress import bar_disabled, quiet_libraries
from recbench.cli.app import ExecutorName, IndexName, app, fail, parse_options, split_list, split_specs


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM ends a run as Ctrl-C does: the cell in progress stops and no half record is left."""
    raise KeyboardInterrupt


def parse_cutoffs(text: str) -> list[int]:
    """``--cutoffs 5,10,20``: whole numbers; their range is checked when the cells resolve."""
    try:
        return [int(k) for k in split_list(text)]
    except ValueError:
        raise CellError(f"--cutoffs takes whole numbers separated by commas (5,10,20,50), not {text!r}") from None


MLPERF_PROBE = {"server_seconds": 600.0, "server_min_queries": 270_336}  # MLPerf's Server minimums


def probe_length(seconds: float | None, min_queries: int | None, mlperf: bool) -> dict[str, Any]:
    """A server probe's length: what the flags say, else MLPerf's minimums under --server-mlperf,
    else the protocol's defaults (EvalSettings)."""
    fallback = MLPERF_PROBE if mlperf else setting_defaults()
    return {"server_seconds": fallback["server_seconds"] if seconds is None else seconds,
            "server_min_queries": fallback["server_min_queries"] if min_queries is None else min_queries}


def matrix_from_flags(model: list[str], dataset: list[str], split: str | None, opt: list[str], dataset_opt: list[str],
                      pooling: str, topk: int, fields: str | None, batch_size: int, seed: int, n_bootstrap: int,
                      latency_queries: int, threads: int | None, index: str, rerank: str | None, rerank_depth: str,
                      max_queries: int | None, offline_texts: int, server_p99_ms: float | None,
                      server_seconds: float | None, server_min_queries: int | None, server_repeats: int, server_mlperf: bool, train_budget: str | None,
                      train_seed: int, train_seeds: str | None, cutoffs: str | None = None,
                      fuse: str | None = None, seen_items: str = "excluded", server_workers: int = 1,
                      max_batch: int = 1, max_wait_ms: float = 0.0, multistream: int = 0,
                      device: str = "cpu") -> Matrix:
    """The grid the flags ask for, as data: the same :class:`Matrix` a suite's ``[[matrix]]`` declares."""
    try:
        depths = [int(d) for d in split_list(rerank_depth)]
    except ValueError:
        raise CellError(f"--rerank-depth takes whole numbers (100, or a list 10,50,100), not {rerank_depth!r}") from None
    settings = {"batch_size": batch_size, "seed": seed, "n_bootstrap": n_bootstrap, "latency_queries": latency_queries,
                "pooling": pooling, "topk": topk, "fields": split_list(fields) if fields else None, "threads": threads,
                "index": index, "offline_texts": offline_texts, "server_p99_ms": server_p99_ms,
                **probe_length(server_seconds, server_min_queries, server_mlperf),
                "server_repeats": server_repeats, "server_loadgen": server_mlperf, "rerank": rerank,
                "max_queries": max_queries,
                "cutoffs": parse_cutoffs(cutoffs) if cutoffs else None, "fuse": fuse,
                "seen_items": seen_items, "server_workers": server_workers, "max_batch": max_batch,
                "max_wait_ms": float(max_wait_ms), "multistream": multistream, "device": device}
    if train_budget:
        Budget.parse(train_budget)  # refused here, naming the flag, before anything resolves
    training = {"seed": train_seed, **({"budget": train_budget} if train_budget else {})}
    seeds = parse_train_seeds(train_seeds) if train_seeds is not None else None
    return Matrix.from_dict({"models": split_specs(model), "datasets": split_specs(dataset), "options": parse_options(opt),
                             "dataset_options": parse_options(dataset_opt), "settings": settings, "training": training,
                             **({"split": split} if split else {}), **({"seeds": seeds} if seeds else {}),
                             **({"rerank_depths": depths} if len(depths) > 1 or (depths and depths != [100]) else {})})


@app.command()
def run(
    model: list[str] = typer.Option([], "--model", "-m", help="baseline(s), comma-separated or repeated: "
                                    "sif,sbert,sbert:/path/to/model"),
    dataset: list[str] = typer.Option([], "--dataset", "-d", help="dataset(s), comma-separated or repeated: "
                                      "lee,sts-b,pairs:my.csv#s1,s2,score (a '#' part keeps its commas)"),
    suite: Optional[Path] = typer.Option(None, help="run the cells of a suite file instead (suites/NAME.toml, or "
                                         "NAME): explicit cells and grids as data; each record names the suite"),
    dry_run: bool = typer.Option(False, help="resolve every cell and print its key and row label; run nothing"),
    split: Optional[str] = typer.Option(None, help="split (default: each dataset's own, e.g. test)"),
    opt: list[str] = typer.Option([], "--opt", "-o", help="model option KEY=VALUE (repeatable), e.g. -o pc=reference"),
    dataset_opt: list[str] = typer.Option([], "--dataset-option", "-D",
                                          help="dataset option KEY=VALUE (repeatable), e.g. -D on_missing=drop"),
    pooling: str = typer.Option("mean", help="user profile from history embeddings: impressions mean | topk | "
                                "mix; sequences mean | recency | topk (other kinds pool nothing)"),
    topk: int = typer.Option(3, help="impressions: k of top-k pooling"),
    fields: Optional[str] = typer.Option(None, help="impressions: item fields forming the text, e.g. title,abstract "
                                         "(default: the dataset's, title for MIND)"),
    cache: bool = typer.Option(True, help="impressions: reuse item embeddings cached on disk (--no-cache re-encodes)"),
    batch_size: int = typer.Option(32, help="encoding batch size"),
    seed: int = typer.Option(0, help="seed for bootstrap resampling and random baselines"),
    n_bootstrap: int = typer.Option(1000, help="bootstrap resamples for the 95% intervals"),
    latency_queries: int = typer.Option(200, help="queries timed one at a time for p50/p95/p99"),
    threads: Optional[int] = typer.Option(None, help="pin every library (torch, ONNX Runtime, faiss, BLAS) to this "
                                          "many threads; the row is labelled {threads=N} (default: each library's own)"),
    index: IndexName = typer.Option(IndexName.flat, help="full-ranking kinds: the item index served from: flat (exact) | fp16 | "
                              "sq8 | hnsw | ivfpq; quality is what the index returns, with its recall@10 of exact"),
    rerank: Optional[str] = typer.Option(None, help="full-ranking kinds: a two-stage pipeline; this model re-orders "
                                         "the run's model's top --rerank-depth items, e.g. colbert-minilm; latency "
                                         "is end to end, each stage timed apart"),
    fuse: Optional[str] = typer.Option(None, help="full-ranking kinds: fuse the run's model with others by "
                                       "reciprocal rank, METHOD:MODEL (each with an optional *WEIGHT, more with +MODEL, then @DEPTH), e.g. rrf:bm25 "
                                       "(k=60) or rr:bm25*0.5@50 (k=0); latency is every model's serving path"),
    seen_items: str = typer.Option("excluded", help="sequences: a user's history items are left out of the "
                                   "ranking (excluded, our rule) or ranked like any item (kept: the rule of RecBole "
                                   "and of UniSRec's and Recformer's code, under which their figures were published)"),
    rerank_depth: str = typer.Option("100", help="with --rerank: how many first-stage items are re-ordered; a list "
                                     "(10,20,50,100,200) runs one cell per depth"),
    cutoffs: Optional[str] = typer.Option(None, help="ranking kinds: every ranking metric also at these cutoffs, "
                                          "e.g. 5,10,20,50 (ndcg@K, recall@K or hr@K; the primary metric stays)"),
    max_queries: Optional[int] = typer.Option(None, help="evaluate a seeded sample of this many queries (the same "
                                              "for every row, so paired tests hold; labelled {max_queries=N}): for "
                                              "models too slow for every query"),
    offline_texts: int = typer.Option(256, help="offline scenario: encoder throughput over this many of the task's "
                                      "texts at batch 1, 8, 32 and 128 (0: skip)"),
    server_p99_ms: Optional[float] = typer.Option(None, help="server scenario: find the largest Poisson query rate "
                                                  "whose p99 latency stays under this bound, e.g. 50 (default: off)"),
    server_seconds: Optional[float] = typer.Option(None, help="server scenario: at least this many real seconds "
                                                   "per probe (default 5; 600 with --server-mlperf)"),
    server_min_queries: Optional[int] = typer.Option(None, help="server scenario: and at least this many queries per "
                                                     "probe (default 300; 270,336 with --server-mlperf)"),
    server_repeats: int = typer.Option(2, help="server scenario: a rate passes only if each of this many probes "
                                       "(seeded apart) keeps the p99 bound"),
    device: str = typer.Option("cpu", help="where the model evaluates: cpu, cuda, cuda:N or mps (torch must see "
                               "it; timed queries end with the device synchronised; labelled {device=cuda})"),
    server_workers: int = typer.Option(1, help="server and MultiStream scenarios: worker threads serving the "
                                       "queue (labelled {workers=N})"),
    max_batch: int = typer.Option(1, help="server and MultiStream scenarios: a dynamic batcher sends at most this "
                                  "many waiting queries in one call (labelled {batch=B/Wms})"),
    max_wait_ms: float = typer.Option(0.0, help="with --max-batch: how long the batcher waits after a batch's "
                                      "first query for more"),
    multistream: int = typer.Option(0, help="MLPerf's MultiStream scenario: samples of this many queries issued "
                                    "at once, p99 of a sample's latency (0: off)"),
    server_mlperf: bool = typer.Option(False, help="server and MultiStream scenarios driven by MLPerf's loadgen "
                                       "(pip install -e '.\\[mlperf]'), with MLPerf's minimum per probe (600 s and "
                                       "270,336 queries; hours per cell) unless --server-seconds / "
                                       "--server-min-queries say otherwise"),
    data_dir: Optional[Path] = typer.Option(None, help="folder with the data (else $RECBENCH_DATA, then the cache)"),
    results_dir: Optional[Path] = typer.Option(None, help="where run records are written (default $RECBENCH_RESULTS, "
                                               "else runs/; the project's leaderboard records live in results/)"),
    progress: bool = typer.Option(True, help="progress bars"),
    isolate: bool = typer.Option(True, help="run each cell in a fresh process, so its load time, latency and "
                                 "peak memory are its own (asv-style); --no-isolate shares one process"),
    rerun: bool = typer.Option(False, help="run cells that already have a record of the same configuration"),
    executor: ExecutorName = typer.Option(ExecutorName.local, help="local (one cell at a time on this machine) | ray (each cell a Ray "
                                 "task declaring its --threads as CPUs, else a whole node; pip install -e '.\\[ray]')"),
    address: Optional[str] = typer.Option(None, help="--executor ray: the cluster to join, e.g. 10.0.0.5:6379 or "
                                          "auto (default $RAY_ADDRESS, else a local Ray instance)"),
    train_budget: Optional[str] = typer.Option(None, help="trained models: steps, e.g. 400steps (default: each "
                                               "model's own step budget, so a figure repeats on any machine); a "
                                               "time such as 6m or 400steps,6m is a cap only, and a row it stops "
                                               "is marked machine-dependent"),
    retrain: bool = typer.Option(False, help="trained models: train again even where a checkpoint is cached"),
    train_seed: int = typer.Option(0, help="trained models: seed of initialisation, sampling and batch order"),
    train_seeds: Optional[str] = typer.Option(None, help="trained models: one cell per seed, a count (3 = seeds "
                                              "0,1,2) or a list (0,1,2); the leaderboard shows their mean +- sd"),
    export: Optional[Tuple[str, str]] = typer.Option(None, help="also write each cell's predictions in a format, "
                                            "into a folder per cell under DIR: trec (run.trec + qrels.trec, every "
                                            "ranking kind; trec_eval, ir-measures and ranx read them) or "
                                            "mind-submission (MIND's prediction.txt + .zip, impressions); the "
                                            "cells run even if recorded"),
) -> None:
    """Run every compatible model x dataset cell; write one run record per cell.

    A cell whose configuration already has a record in --results-dir is skipped (--rerun to
    run it again), so an interrupted grid resumes where it stopped. A failing cell is reported
    and the others go on; Ctrl-C stops at once and leaves no half record."""
    quiet_libraries(progress)
    executor, index = executor.value, index.value
    if executor == "ray" and export:
        fail("--export writes files where the cell runs; use it with --executor local")
    if address and executor != "ray":
        fail("--address names a Ray cluster; add --executor ray")
    if train_seeds is not None and train_seed != 0:
        fail("give either --train-seed or --train-seeds")
    wanted_export = (export[0], str(export[1])) if export and export[0] else None
    how = {"retrain": retrain, "export": wanted_export, "progress": progress, "use_cache": cache}
    try:  # every cell resolved before anything loads: names, options, splits, pooling, budget
        if suite is not None:
            if model or dataset:
                fail("give either --suite or --model/--dataset (a suite names its own cells)")
            from recbench.run.suites import load_suite

            declared = load_suite(suite)
            cells, unsupported = plan_specs(declared.specs(), suite=(declared.name, declared.sha256), **how)
        else:
            if not model or not dataset:
                fail("give --model and --dataset (or --suite FILE)")
            matrix = matrix_from_flags(model, dataset, split, opt, dataset_opt, pooling, topk, fields, batch_size, seed,
                                       n_bootstrap, latency_queries, threads, index, rerank, rerank_depth, max_queries,
                                       offline_texts, server_p99_ms, server_seconds, server_min_queries, server_repeats,
                                       server_mlperf, train_budget, train_seed, train_seeds, cutoffs, fuse,
                                       seen_items, server_workers, max_batch, max_wait_ms, multistream, device)
            check_options_taken(matrix)
            cells, unsupported = plan_specs(matrix.specs(), **how)
    except (UnknownNameError, CellError, RuntimeError, ValueError) as exc:
        fail(str(exc))
    for m, d, reason in unsupported:
        typer.echo(f"skip  {m} x {d}: {reason}")
    if dry_run:
        for cell in cells:
            typer.echo(f"cell  {cell.key}  {cell.model_label()} x {cell.dataset_label} ({cell.split})"
                       + (f"  seed {cell.training.seed}" if cell.training is not None else ""))
        typer.echo(f"dry run: {len(cells)} cell(s), nothing run")
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=len(cells), desc="grid", unit="cell", disable=True if len(cells) < 2 else bar_disabled(progress))

    def started(cell: Cell) -> None:
        bar.set_postfix_str(f"{cell.model} x {cell.dataset}")

    def finished(outcome: Outcome) -> None:
        bar.update(1)
        c = outcome.cell
        if outcome.status == "skipped" and outcome.record is not None:
            bar.write(f"skip  {c.model} x {c.dataset}: recorded before (--rerun to run it again): "
                      f"{summarise(outcome.record, outcome.path)}")
        elif outcome.status == "skipped":
            bar.write(f"skip  {c.model} x {c.dataset}: {outcome.message}")
        elif outcome.status == "ok":
            bar.write(f"done  {summarise(outcome.record, outcome.path)}")
            for path in (outcome.record.get("exported") or {}).get("files", []):
                bar.write(f"      exported {path}")
        else:
            typer.secho(f"FAIL  {c.model} x {c.dataset}: {outcome.message}", fg=typer.colors.RED, err=True)

    import signal

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        counts = run_grid(cells, DataLocator(data_dir=data_dir), results_dir or user_results_dir(), isolate=isolate,
                          rerun=rerun or wanted_export is not None, on_start=started, on_outcome=finished,
                          executor=executor, address=address)
    except (RuntimeError, ConnectionError, ValueError) as exc:  # Ray missing or unreachable; an unwritable folder
        bar.close()
        fail(str(exc))
    except GridInterrupted as stop:
        bar.close()
        c = stop.counts
        typer.secho(f"interrupted: {c.done} cell(s) done, {c.skipped} skipped, {c.failed} failed, {stop.left} not "
                    "run (no half record was written); run the same command to do the rest",
                    fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(130)
    bar.close()
    if len(cells) > 1:
        typer.echo(f"grid: {counts.done} run, {counts.skipped} skipped (already recorded), {counts.failed} failed")
    if counts.failed:
        raise typer.Exit(1)


def _throughput(timing: dict[str, Any]) -> str:
    if timing.get("embedding_cache_hit"):
        return "embeddings from cache"
    rate = timing.get("texts_per_second")
    return f"{rate:,.0f} texts/s" if rate else "no encoding"


def summarise(record: dict[str, Any], path: Path | None) -> str:
    """The one line a finished (or skipped) cell prints."""
    run = RunRecord.from_dict(record)
    est, lat = run.primary, run.latency
    d = 2 if abs(est.value) > 1.5 else 4  # correlations are x100; rates need more digits
    t = run.training
    trained = ""
    if t:
        trained = (f"checkpoint reused ({t['steps']} steps)  " if t.get("reused") else
                   f"trained {t['steps']} steps in {t['seconds'] / 60:.1f} min ({t.get('examples_per_second') or 0:.1f}/s)  ")
    return (
        f"{run.model.label} x {run.dataset.name} ({run.dataset.split}): "
        f"{run.primary_metric} {est.value:.{d}f} [{est.ci_low:.{d}f}, {est.ci_high:.{d}f}]  {trained}"
        f"{_throughput(run.timing)}  "
        f"{'p50 %.2f ms' % lat['p50_ms'] if lat.get('p50_ms') is not None else 'latency not timed'}  -> {path}"
    )
