"""``recbench tune``: a budgeted search over a model's typed options, scored on the validation
split only, so that a baseline on the board got as much care as the model it is compared with.

Optuna's TPE sampler (seeded) proposes option values; the model's defaults are always the first
trial, so the search is measured against them and never ends worse on validation. Each trial is
an ordinary cell on the dataset's ``valid`` split (the model trains on what precedes the
validation targets; the test split is never read), written as a run record under
``<results>/tuning/<tuning id>/`` with ``details.tuning`` naming the search and the trial: the
board does not read that folder, ``recbench verify`` can re-run any trial. An interrupted search
resumes: the trials recorded there are told to the sampler again and the search goes on.

When the trials (or the time) are spent, the best configuration runs once on the test split,
with the same training budget (each trial's), as a row labelled ``{tuned=<N>trials}``; its record's
``details.tuning`` holds the space, every trial's options and validation figure, and the search's
cost. The row's key holds the tuning too, so it never replaces an untuned row of the same options.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from recbench.protocol.model_contract import hook
from recbench.protocol.options import OptionError, typed_options
from recbench.protocol.registry import baselines
from recbench.protocol.settings import EvalSettings
from recbench.run.cells import Cell, CellError
from recbench.run.training import Budget, TrainSettings

TUNING_FOLDER = "tuning"
KINDS = ("log", "float", "int", "choice")


@dataclass(frozen=True)
class Dimension:
    """One searched option: ``log:LOW:HIGH`` (log-uniform), ``float:LOW:HIGH``, ``int:LOW:HIGH``
    or ``choice:A|B|C``."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    @classmethod
    def parse(cls, name: str, text: str) -> "Dimension":
        kind, _, rest = str(text).partition(":")
        if kind not in KINDS or not rest:
            raise CellError(f"--space {name}={text!r}: write log:LOW:HIGH, float:LOW:HIGH, int:LOW:HIGH or choice:A|B")
        if kind == "choice":
            choices = tuple(c for c in rest.split("|") if c)
            if len(choices) < 2:
                raise CellError(f"--space {name}: a choice needs at least two values, not {rest!r}")
            return cls(name, kind, choices=choices)
        try:
            low, high = (float(x) for x in rest.split(":"))
        except ValueError:
            raise CellError(f"--space {name}={text!r}: LOW:HIGH must be two numbers") from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high) or (kind == "log" and low <= 0):
            raise CellError(f"--space {name}: the range {rest!r} is empty{' or not positive' if kind == 'log' else ''}")
        if kind == "int" and (low != int(low) or high != int(high)):
            raise CellError(f"--space {name}: an int range takes whole numbers, not {rest!r}")
        return cls(name, kind, low, high)

    def describe(self) -> str:
        return f"choice:{'|'.join(self.choices)}" if self.kind == "choice" else f"{self.kind}:{self.low:g}:{self.high:g}"

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "choice":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high))
        return FloatDistribution(self.low, self.high, log=self.kind == "log")

    def readable(self, value: Any) -> Any:
        """A proposed value as a row label can show it: floats to 2 significant digits (a finer
        difference is below what one validation split can tell apart), kept inside the range."""
        if self.kind in ("log", "float"):
            rounded = float(f"{float(value):.2g}")
            return min(max(rounded, self.low), self.high)
        return int(value) if self.kind == "int" else str(value)


def parse_space(model: str, given: list[str] | None) -> list[Dimension]:
    """``--space`` entries, else the model's ``tune_space`` hook; every name must be an option the
    model takes, and a choice's values must be values it accepts."""
    factory = baselines.get(model)
    entries = dict(e.split("=", 1) for e in (given or []) if "=" in e)
    if given and len(entries) != len(given):
        bad = next(e for e in given if "=" not in e)
        raise CellError(f"--space {bad!r}: write NAME=log:LOW:HIGH (or float:, int:, choice:A|B)")
    if not entries:
        entries = dict(hook(factory, "tune_space") or {})
        if not entries:
            raise CellError(f"model {model!r} declares no search space; give one with --space NAME=log:LOW:HIGH")
    taken = set(inspect.signature(factory).parameters) - {"arg", "self"}
    space = []
    for name, text in entries.items():
        if name not in taken:
            raise CellError(f"--space {name!r}: model {model!r} has no such option (it takes {', '.join(sorted(taken))})")
        dim = Dimension.parse(name, text)
        probes = dim.choices or (dim.readable(dim.low), dim.readable(dim.high))
        for value in probes:
            try:
                typed_options(factory, {name: value}, f"model {model!r}")
            except OptionError as exc:
                raise CellError(f"--space {name}: {exc}") from None
        space.append(dim)
    return space


def model_defaults(model: str, space: list[Dimension]) -> dict[str, Any]:
    """The model's own value of each searched option: the first trial."""
    params = inspect.signature(baselines.get(model)).parameters
    return {d.name: params[d.name].default for d in space}


@dataclass
class Trial:
    number: int
    options: dict[str, Any]
    value: float
    seconds: float
    record: str


@dataclass
class Search:
    """What ``recbench tune`` is asked: which model on which dataset, the space, how many trials
    of which budget, at most how long, and the sampler's seed."""

    model: str
    dataset: str
    space: list[Dimension]
    trials: int
    budget: Budget
    max_minutes: float | None = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # fixed options, not searched
    dataset_options: dict[str, Any] = field(default_factory=dict)
    settings: EvalSettings = field(default_factory=EvalSettings)  # the trials'
    test_settings: EvalSettings | None = None  # the tuned row's (e.g. its full latency runs); None: the trials'

    @property
    def tuning_id(self) -> str:
        """Names the search: the same question, the same folder (so it resumes there)."""
        payload = {"model": self.model, "dataset": self.dataset, "space": [(d.name, d.describe()) for d in self.space],
                   "budget": self.budget.describe(), "seed": self.seed, "options": self.options,
                   "dataset_options": self.dataset_options}
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:10]
        return f"{self.model}__{self.dataset}__{digest}".replace("/", "_").replace(":", "_")

    def cell(self, options: dict[str, Any], split: str, tuned: str | None = None) -> Cell:
        training = TrainSettings(budget=self.budget, seed=0, tuned=tuned)
        settings = self.test_settings if tuned and self.test_settings is not None else self.settings
        return Cell.resolve(self.model, self.dataset, split, {**self.options, **options}, self.dataset_options,
                            settings, training)

    def describe(self) -> dict[str, Any]:
        return {"id": self.tuning_id, "sampler": f"optuna TPE, seed {self.seed}, the model's defaults first", "seed": self.seed,
                "space": {d.name: d.describe() for d in self.space}, "trials_asked": self.trials,
                "trial_budget": self.budget.describe(), "max_minutes": self.max_minutes, "scored_on": "valid"}


def recorded_trials(folder: Path, search: Search) -> list[Trial]:
    """The trials of this search already recorded (an interrupted search resumes from them)."""
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text())
            tuning = record["details"]["tuning"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a trial record of ours
        if tuning.get("id") != search.tuning_id or "trial" not in tuning:
            continue
        primary = record["primary_metric"]
        out.append(Trial(int(tuning["trial"]), dict(tuning["options"]), float(record["metrics"][primary]["value"]),
                         trial_seconds(record), path.name))
    return sorted(out, key=lambda t: t.number)


def trial_seconds(record: dict[str, Any]) -> float:
    """What a recorded trial cost, read back from its record (its training and its evaluation), so
    that a resumed search's cost counts the trials an earlier process ran, not only its own."""
    def seconds(part: Any, key: str) -> float:
        value = part.get(key) if isinstance(part, dict) else None
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0 else 0.0

    return seconds(record.get("training"), "seconds") + seconds(record.get("timing"), "total_seconds")


def run_search(search: Search, results_dir: Path, run: Callable[[Cell, dict[str, Any]], tuple[dict[str, Any], Path]],
               say: Callable[[str], None] = print, test: bool = True) -> dict[str, Any]:
    """Runs the trials not yet recorded, then the chosen configuration on the test split.
    ``run(cell, tuning_details)`` evaluates a cell and writes its record (the details added),
    returning (record, path). Returns the tuned row's ``details.tuning``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = Path(results_dir) / TUNING_FOLDER / search.tuning_id
    folder.mkdir(parents=True, exist_ok=True)
    distributions = {d.name: d.distribution() for d in search.space}
    sampler = optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=min(10, max(3, search.trials // 3)))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    done = recorded_trials(folder, search)
    for t in done:
        study.add_trial(optuna.trial.create_trial(params=t.options, distributions=distributions, value=t.value))
    if done:
        say(f"tune: {len(done)} trial(s) of {search.tuning_id} recorded already; going on from them")
    else:
        study.enqueue_trial(model_defaults(search.model, search.space))
    started = time.perf_counter()
    trials = list(done)
    while len(trials) < search.trials:
        spent = (time.perf_counter() - started) / 60
        mean = spent / max(1, len(trials) - len(done))
        if search.max_minutes is not None and len(trials) > len(done) and spent + mean > search.max_minutes:
            say(f"tune: stopping after {len(trials)} trials: another would pass --max-minutes {search.max_minutes:g}")
            break
        asked = study.ask(distributions)
        options = {d.name: d.readable(asked.params[d.name]) for d in search.space}
        number = len(trials)
        t0 = time.perf_counter()
        record, path = run(search.cell(options, "valid"), {**search.describe(), "trial": number, "options": options})
        seconds = time.perf_counter() - t0
        value = float(record["metrics"][record["primary_metric"]]["value"])
        if asked.params == options:
            study.tell(asked, value)
        else:  # the sampler learns from the rounded values the cell ran with, not the ones it proposed
            _tell_as_run(study, asked, options, distributions, value)
        trials.append(Trial(number, options, value, seconds, path.name))
        say(f"tune: trial {number} {options} -> valid {record['primary_metric']} {value:.4f} ({seconds / 60:.1f} min)")
    if not trials:
        raise CellError("tune: no trial ran")
    best = max(trials, key=lambda t: (t.value, -t.number))  # a tie goes to the earlier trial (the defaults first)
    default = next((t for t in trials if t.number == 0), None)
    summary = {**search.describe(), "trials": len(trials), "tuned": f"{len(trials)}trials",
               "chosen": best.options, "chosen_trial": best.number, "best_valid": best.value,
               "defaults_valid": default.value if default is not None else None,
               "search_minutes": sum(t.seconds for t in trials) / 60,
               "trial_records": [{"trial": t.number, "options": t.options, "valid": t.value, "minutes": t.seconds / 60,
                                  "record": f"{TUNING_FOLDER}/{search.tuning_id}/{t.record}"} for t in trials]}
    say(f"tune: chose trial {best.number} {best.options} (valid {best.value:.4f}"
        + (f"; the defaults {default.value:.4f})" if default is not None else ")"))
    if test:
        record, path = run(search.cell(best.options, "test", tuned=summary["tuned"]), summary)
        summary["test_record"] = path.name
        primary = record["primary_metric"]
        say(f"tune: test {primary} {record['metrics'][primary]['value']:.4f} -> {path}")
    return summary


def _tell_as_run(study: Any, asked: Any, options: dict[str, Any], distributions: dict[str, Any], value: float) -> None:
    """Closes the proposed trial unscored and adds the one that ran."""
    import optuna

    study.tell(asked, state=optuna.trial.TrialState.FAIL)
    study.add_trial(optuna.trial.create_trial(params=options, distributions=distributions, value=value))
