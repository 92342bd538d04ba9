"""``recbench tune``: a budgeted search over a model's options on the validation split, then one
test row labelled with the search it got (``recbench/run/tuning.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from recbench.cli.app import app, fail, parse_options
from recbench.protocol.registry import UnknownNameError, baselines
from recbench.run.cells import CellError


@app.command(short_help="Search a trained model's options on the validation split, then run the best once on test.")
def tune(
    model: str = typer.Option(..., "--model", "-m", help="a trained baseline, e.g. gru4rec"),
    dataset: str = typer.Option(..., "--dataset", "-d", help="a dataset with a valid split, e.g. amazon-scientific"),
    space: list[str] = typer.Option([], "--space", help="a searched option NAME=log:LOW:HIGH | float:LOW:HIGH | "
                                    "int:LOW:HIGH | choice:A|B (repeatable; default: the model's own tune_space)"),
    trials: int = typer.Option(8, help="trials, the model's defaults first"),
    train_budget: Optional[str] = typer.Option(None, help="each trial's training budget in steps, and the tuned "
                                               "row's (default: the model's own)"),
    max_minutes: Optional[float] = typer.Option(None, help="stop starting trials once another would pass this "
                                                "many minutes of search"),
    seed: int = typer.Option(0, help="the sampler's seed"),
    opt: list[str] = typer.Option([], "--opt", "-o", help="a fixed model option KEY=VALUE, not searched"),
    dataset_opt: list[str] = typer.Option([], "--dataset-option", "-D", help="dataset option KEY=VALUE"),
    latency_queries: int = typer.Option(200, help="queries timed one at a time in the tuned row (trials time 20)"),
    test: bool = typer.Option(True, help="run the chosen configuration on the test split (--no-test: search only)"),
    data_dir: Optional[Path] = typer.Option(None, help="folder with the data (else $RECBENCH_DATA, then the cache)"),
    results_dir: Optional[Path] = typer.Option(None, help="where the tuned row's record goes (the trials' under "
                                               "tuning/<id>/ there); default $RECBENCH_RESULTS, else runs/"),
    progress: bool = typer.Option(False, help="progress bars inside each trial"),
) -> None:
    """Optuna's TPE sampler (seeded) proposes values for the searched options; each trial trains
    with the budget and is scored on the dataset's valid split only, written as a record under
    RESULTS/tuning/ID/ (an interrupted search resumes from them). The best trial's options
    then run once on the test split, as a row labelled {tuned=Ntrials} whose record's
    details.tuning lists every trial and what the search cost."""
    from recbench.protocol.data import DataLocator
    from recbench.protocol.settings import EvalSettings
    from recbench.results.records import user_results_dir
    from recbench.run.runner import compute_run, write_run
    from recbench.run.training import Budget
    from recbench.run.tuning import TUNING_FOLDER, Search, parse_space, run_search

    import importlib.util

    if importlib.util.find_spec("optuna") is None:
        fail("recbench tune needs Optuna: pip install -e '.[tune]'")
    if trials < 1:
        fail("--trials must be at least 1")
    try:
        dims = parse_space(model, space)
        budget = Budget.parse(train_budget) if train_budget else Budget()
        budget = budget.with_model_default(baselines.get(model))
        search = Search(model=model, dataset=dataset, space=dims, trials=trials, budget=budget, max_minutes=max_minutes,
                        seed=seed, options=parse_options(opt), dataset_options=parse_options(dataset_opt),
                        settings=EvalSettings(progress=progress, latency_queries=20, offline_texts=0),
                        test_settings=EvalSettings(progress=progress, latency_queries=latency_queries))
        search.cell({}, "valid")  # every name and option checked before anything trains
    except (CellError, UnknownNameError, ValueError) as exc:
        fail(str(exc))
    root = results_dir or user_results_dir()
    locator = DataLocator(data_dir)

    def run(cell: Any, tuning: dict[str, Any]) -> tuple[dict[str, Any], Path]:
        trial = "trial" in tuning
        computed = compute_run(cell, locator)
        computed.record["details"] = {**computed.record.get("details", {}), "tuning": tuning}
        result = write_run(computed, Path(root) / TUNING_FOLDER / search.tuning_id if trial else Path(root))
        return result.record, result.path

    try:
        run_search(search, Path(root), run, say=typer.echo, test=test)
    except CellError as exc:
        fail(str(exc))
