"""The `recbench` command: parse, then call into recbench.benchmark."""

from __future__ import annotations

import json
import textwrap
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Tuple

from enum import Enum

import typer

from recbench.benchmark.cells import Cell, CellError, parse_train_seeds, plan
from recbench.benchmark.check import DEFAULT_SUITE
from recbench.benchmark.data import DataLocator
from recbench.benchmark.evaluate import EvalSettings
from recbench.benchmark.task_kinds import all_kinds, supports
from recbench.benchmark.indexes import INDEXES
from recbench.benchmark.grid import EXECUTORS, GridInterrupted, Outcome, run_grid
from recbench.benchmark.registry import UnknownNameError, baselines, datasets
from recbench.benchmark.records import user_results_dir
from recbench.benchmark.training import Budget, TrainSettings
from recbench.benchmark.progress import bar_disabled, quiet_libraries

# choices typer shows and checks (values are plain strings: ``.value``)
ExecutorName = Enum("ExecutorName", {name: name for name in EXECUTORS}, type=str)
IndexName = Enum("IndexName", {name: name for name in INDEXES}, type=str)
ReportFormat = Enum("ReportFormat", {name: name for name in ("md", "csv", "json")}, type=str)

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


def split_specs(values: list[str]) -> list[str]:
    """Model or dataset specs from one or more repeated flags, each split at its commas, except
    that a spec's ``#...`` part (a pairs file's columns: ``pairs:my.csv#s1,s2,score``) keeps its
    commas and runs to the end of that flag's value: give such a spec last, or in a flag of its own."""
    out: list[str] = []
    for value in values:
        head, sep, tail = value.partition("#")
        parts = split_list(head) if not head.rstrip().endswith(",") else split_list(head) + [""]
        if sep:
            if not parts or not parts[-1]:
                raise typer.BadParameter(f"{value!r}: a '#...' part must follow a spec, e.g. pairs:my.csv#s1,s2,score")
            parts[-1] = f"{parts[-1]}#{tail.strip()}"
        out.extend(p for p in parts if p)
    return out


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM ends a run as Ctrl-C does: the cell in progress stops and no half record is left."""
    raise KeyboardInterrupt


@app.command()
def run(
    model: list[str] = typer.Option(..., "--model", "-m", help="baseline(s), comma-separated or repeated: "
                                    "sif,sbert,sbert:/path/to/model"),
    dataset: list[str] = typer.Option(..., "--dataset", "-d", help="dataset(s), comma-separated or repeated: "
                                      "lee,sts-b,pairs:my.csv#s1,s2,score (a '#' part keeps its commas)"),
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
    rerank_depth: str = typer.Option("100", help="with --rerank: how many first-stage items are re-ordered; a list "
                                     "(10,20,50,100,200) runs one cell per depth"),
    max_queries: Optional[int] = typer.Option(None, help="evaluate a seeded sample of this many queries (the same "
                                              "for every row, so paired tests hold; labelled {max_queries=N}): for "
                                              "models too slow for every query"),
    offline_texts: int = typer.Option(256, help="offline scenario: encoder throughput over this many of the task's "
                                      "texts at batch 1, 8, 32 and 128 (0: skip)"),
    server_p99_ms: Optional[float] = typer.Option(None, help="server scenario: find the largest Poisson query rate "
                                                  "whose p99 latency stays under this bound, e.g. 50 (default: off)"),
    server_seconds: float = typer.Option(5.0, help="server scenario: at least this many real seconds per probe"),
    server_min_queries: int = typer.Option(300, help="server scenario: and at least this many queries per probe"),
    server_repeats: int = typer.Option(2, help="server scenario: a rate passes only if each of this many probes "
                                       "(seeded apart) keeps the p99 bound"),
    server_mlperf: bool = typer.Option(False, help="server scenario: MLPerf's minimum per probe (600 s and "
                                       "270,336 queries; hours per cell)"),
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
                                            "e.g. --export mind-submission DIR (MIND's prediction.txt + .zip, "
                                            "impressions cells; the cells run even if recorded)"),
) -> None:
    """Run every compatible model x dataset cell; write one run record per cell.

    A cell whose configuration already has a record in --results-dir is skipped (--rerun to
    run it again), so an interrupted grid resumes where it stopped. A failing cell is reported
    and the others go on; Ctrl-C stops at once and leaves no half record."""
    quiet_libraries(progress)
    options = parse_options(opt)
    dataset_options = parse_options(dataset_opt)
    executor, index = executor.value, index.value
    if executor == "ray" and export:
        fail("--export writes files where the cell runs; use it with --executor local")
    if address and executor != "ray":
        fail("--address names a Ray cluster; add --executor ray")
    settings = EvalSettings(batch_size=batch_size, seed=seed, n_bootstrap=n_bootstrap,
                            latency_queries=latency_queries, progress=progress, pooling=pooling, topk=topk,
                            fields=tuple(split_list(fields)) if fields else None, use_cache=cache, threads=threads,
                            index=index, offline_texts=offline_texts, server_p99_ms=server_p99_ms,
                            server_seconds=600.0 if server_mlperf else server_seconds,
                            server_min_queries=270_336 if server_mlperf else server_min_queries,
                            server_repeats=server_repeats, rerank=rerank, max_queries=max_queries)
    try:
        depths = [int(d) for d in split_list(rerank_depth)] or [EvalSettings.rerank_depth]
    except ValueError:
        fail(f"--rerank-depth takes whole numbers (100, or a list 10,50,100), not {rerank_depth!r}")
    if train_seeds is not None and train_seed != 0:
        fail("give either --train-seed or --train-seeds")
    try:  # every cell resolved before anything loads: names, options, splits, pooling, budget
        training = TrainSettings(budget=Budget.parse(train_budget) if train_budget else Budget(), seed=train_seed,
                                 retrain=retrain)
        seeds = parse_train_seeds(train_seeds) if train_seeds is not None else None
        wanted_export = (export[0], str(export[1])) if export and export[0] else None
        cells, unsupported = [], []
        for depth in depths:  # one grid per reranking depth (one depth without --rerank)
            more, skipped = plan(split_specs(model), split_specs(dataset), split, options, dataset_options,
                                 replace(settings, rerank_depth=depth), training, wanted_export, seeds)
            cells += more
            unsupported += [s for s in skipped if s not in unsupported]
    except (UnknownNameError, CellError, RuntimeError, ValueError) as exc:
        fail(str(exc))
    for m, d, reason in unsupported:
        typer.echo(f"skip  {m} x {d}: {reason}")
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
    from recbench.benchmark.catalog_encode import encode_catalogs

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
    t = record.get("training")
    trained = ""
    if t:
        trained = (f"checkpoint reused ({t['steps']} steps)  " if t.get("reused") else
                   f"trained {t['steps']} steps in {t['seconds'] / 60:.1f} min ({t.get('examples_per_second') or 0:.1f}/s)  ")
    return (
        f"{record['model']['label']} x {record['dataset']['name']} ({record['dataset']['split']}): "
        f"{pm} {est['value']:.{d}f} [{est['ci_low']:.{d}f}, {est['ci_high']:.{d}f}]  {trained}"
        f"{_throughput(record['timing'])}  "
        f"{'p50 %.2f ms' % lat['p50_ms'] if lat.get('p50_ms') is not None else 'latency not timed'}  -> {path}"
    )


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
    from recbench.benchmark.report import write_report

    fmt = fmt.value
    results_dir = results_dir or user_results_dir()
    if not results_dir.is_dir():
        fail(f"no run records: {results_dir}/ does not exist (run `recbench run` first, or give --results-dir; "
             "the project's leaderboard records are in results/)")
    if budget:
        from recbench.benchmark.budget import BudgetError, budget_table, budget_view, parse_budget
        from recbench.benchmark.report import load

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
    from recbench.benchmark.report import check_report_target

    try:
        check_report_target(target, fmt)
    except ValueError as exc:
        fail(str(exc))
    if site is not None:  # refused before anything is written: a site never lands over what it did not create
        from recbench.site.build import SiteTargetError, check_site_target

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
        from recbench.site.build import build_site

        try:
            index = build_site(results_dir, site, significance)
        except ValueError as exc:
            fail(str(exc))
        typer.echo(f"wrote the site: {index} (open it in a browser; it needs no server)")


def find_record(ref: str, results_dir: Path) -> Path:
    """A record by path, file name, or run id (unique prefix)."""
    p = Path(ref)
    if p.is_file():
        return p
    stem = ref[:-len(".json")] if ref.endswith(".json") else ref  # a file name as `ls` prints it
    matches = sorted(Path(results_dir).glob(f"*{stem}*.json"))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        fail(f"no run record matches {ref!r} in {results_dir}/ (give a path, a file name or a run id)")
    fail(f"{ref!r} matches {len(matches)} records in {results_dir}/: " + ", ".join(m.name for m in matches[:5]))
    raise AssertionError("unreachable")


@app.command(short_help="Paired difference B - A over the queries both runs share: interval and p-value.")
def compare(
    run_a: str = typer.Argument(..., help="record path, file name or run id"),
    run_b: str = typer.Argument(..., help="record path, file name or run id"),
    metric: Optional[str] = typer.Option(None, help="metric to compare (default: the primary one); "
                                         "ndcg@10\\[cold]: over the cold targets of the cold-item protocol"),
    results_dir: Optional[Path] = typer.Option(None, help="where to look up run ids (default $RECBENCH_RESULTS, "
                                               "else runs/)"),
    seed: int = typer.Option(0, help="seed of the bootstrap and the randomisation test"),
    seeds: bool = typer.Option(True, help="a trained row: compare all its training seeds found beside the record "
                               "(hierarchical bootstrap over seeds, then queries); --no-seeds: these two records only"),
    output_json: bool = typer.Option(False, "--json", help="print the comparison as JSON"),
) -> None:
    """Paired difference B - A over the queries both runs share: 95% interval and p-value. For
    trained rows with several seeds the test counts the seed-to-seed variance too (a
    hierarchical bootstrap: seeds, then queries); otherwise a paired bootstrap interval and a
    randomisation-test p-value over queries."""
    from recbench.benchmark.records import RecordError, read_record
    from recbench.benchmark.seeds import compare_rows, seed_siblings

    results_dir = results_dir or user_results_dir()
    pa, pb = find_record(run_a, results_dir), find_record(run_b, results_dir)
    try:
        group_a = seed_siblings(pa) if seeds else [pa]
        group_b = seed_siblings(pb) if seeds else [pb]
        c = compare_rows(group_a, group_b, metric, seed=seed)
    except RecordError as exc:
        fail(str(exc))
    if output_json:
        typer.echo(json.dumps(c.as_dict(), indent=2))
        return
    la, lb = read_record(pa)["model"]["label"], read_record(pb)["model"]["label"]
    verdict = "significant at 95%" if c.significant() else "NOT significant at 95%"
    sa = f" ({c.seeds_a} seeds)" if c.seeds_a > 1 else ""
    sb = f" ({c.seeds_b} seeds)" if c.seeds_b > 1 else ""
    typer.echo(f"{c.metric} on {c.shared_queries:,} shared queries; {c.method}\n"
               f"  A {la}{sa}: {figure(c.a)}\n  B {lb}{sb}: {figure(c.b)}\n"
               f"  B - A = {figure(c.difference, '+')}  95% CI [{figure(c.ci_low, '+')}, {figure(c.ci_high, '+')}]  "
               f"p = {c.p_value:.4f}  ({verdict})")


def figure(value: float, sign: str = "") -> str:
    """Four decimals, or two significant digits where four decimals would print a non-zero
    figure as 0.0000 (a difference of 2e-05 can be significant and must not read as none)."""
    if value != 0 and abs(value) < 5e-5:
        return f"{value:{sign}.1e}"
    return f"{value:{sign}.4f}"


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

    from recbench.benchmark.records import RecordError
    from recbench.benchmark.verify import verify_record

    from recbench.benchmark.verify import select_records

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

    from recbench.benchmark import doctor as dr
    from recbench.benchmark.records import RecordError, read_record
    from recbench.benchmark.verify import version_differences

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


@app.command(short_help="Measure this machine's speed once (~10 s); every later run record carries it.")
def calibrate(
    seconds: float = typer.Option(3.0, help="seconds per workload"),
) -> None:
    """A fixed single-thread probe of this machine: MiniLM sentences/s, BLAS GFLOP/s and an exact
    flat-search rate. Cached per machine; every run record made here afterwards carries it in
    environment.calibration, and the board shows it beside the machine's name, so two machines'
    latencies can be judged against each other."""
    from recbench.benchmark.calibration import describe, probe, store
    from recbench.benchmark.timing import Environment

    if not seconds > 0:
        fail("--seconds must be above 0")
    fingerprint = Environment().fingerprint()
    figures = probe(seconds)
    path = store(fingerprint, figures)
    typer.echo(f"{fingerprint}: {describe(figures)}")
    typer.echo(f"kept in {path}; run records made here now carry it")


@app.command(short_help="CI's regression gate: the smoke suite against its expected values.")
def check(
    suite: Path = typer.Option(DEFAULT_SUITE, help="the declared smoke suite"),
    update: bool = typer.Option(False, help="write the measured values as the new expected ones"),
) -> None:
    """CI's regression gate: run the smoke suite, compare with the expected values; exit 1 on
    a regression, printing cell, metric, expected, got and tolerance. Latency is reported only."""
    from tabulate import tabulate

    from recbench.benchmark.check import load_suite, run_suite, update_suite

    try:
        spec = load_suite(suite)
    except ValueError as exc:
        fail(str(exc))
    rows, errors = run_suite(spec, on_cell=lambda name: typer.echo(f"check {name}", err=True))
    if update:
        update_suite(suite, spec, rows)
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


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
