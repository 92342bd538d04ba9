"""``recbench tune`` (run/tuning.py): the space is checked against the model's typed options, the
defaults are the first trial, trials are scored on the valid split and recorded, an interrupted
search resumes from its records, the time budget stops it, and the tuned row is keyed and
labelled apart from an untuned row of the same options."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from recbench.protocol.settings import EvalSettings  # noqa: E402
from recbench.run.cells import Cell, CellError  # noqa: E402
from recbench.run.training import Budget, TrainSettings, checkpoint_key  # noqa: E402
from recbench.run.tuning import TUNING_FOLDER, Dimension, Search, parse_space, run_search  # noqa: E402


def valid_figure(options: dict) -> float:
    """A validation surface with its peak at lr = 0.003, dropout = 0.2 (in (0, 1))."""
    return math.exp(-(math.log10(options["lr"] / 0.003)) ** 2 - 10 * (options["dropout"] - 0.2) ** 2) / 2


class FakeRunner:
    """Stands in for a cell's run: the figure from ``valid_figure``, a record written to the trials'
    folder like the real one (so that a second search finds them), the test run counted."""

    def __init__(self, root: Path, search: Search) -> None:
        self.root, self.search, self.calls = root, search, []

    def __call__(self, cell: Cell, tuning: dict):
        self.calls.append((cell.split, dict(cell.model_options), cell.model_label()))
        value = valid_figure(cell.model_options) if cell.split == "valid" else 0.42
        record = {"primary_metric": "ndcg@10", "metrics": {"ndcg@10": {"value": value}}, "details": {"tuning": tuning},
                  "training": {"seconds": 54.0}, "timing": {"total_seconds": 6.0}}  # a minute a trial
        folder = self.root / TUNING_FOLDER / self.search.tuning_id if "trial" in tuning else self.root
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"r{len(self.calls):03d}.json"
        path.write_text(json.dumps(record))
        return record, path


def search_for(trials: int, **kw) -> Search:
    return Search(model="gru4rec", dataset="amazon-scientific", space=parse_space("gru4rec", None), trials=trials,
                  budget=Budget(steps=300), **kw)


def test_the_defaults_come_first_every_trial_is_a_valid_cell_and_the_best_runs_once_on_test(tmp_path):
    search = search_for(8)
    runner = FakeRunner(tmp_path, search)
    summary = run_search(search, tmp_path, runner, say=lambda _: None)
    splits = [c[0] for c in runner.calls]
    assert splits == ["valid"] * 8 + ["test"]  # the test split is read once, at the end
    assert runner.calls[0][1] == {"lr": 0.001, "dropout": 0.3}  # gru4rec's own defaults
    values = [t["valid"] for t in summary["trial_records"]]
    assert summary["best_valid"] == max(values) >= summary["defaults_valid"] == values[0]
    assert runner.calls[-1][1] == summary["chosen"]
    assert runner.calls[-1][2].endswith("{train=300steps,tuned=8trials}") and summary["tuned"] == "8trials"
    for t in summary["trial_records"]:  # every proposal inside the space, rounded as a label shows it
        assert 3e-4 <= t["options"]["lr"] <= 3e-2 and 0.0 <= t["options"]["dropout"] <= 0.5
        assert float(f"{t['options']['lr']:.2g}") == t["options"]["lr"]
    assert (tmp_path / TUNING_FOLDER / search.tuning_id).is_dir()


def test_an_interrupted_search_resumes_from_its_recorded_trials(tmp_path):
    first = search_for(3)
    run_search(first, tmp_path, FakeRunner(tmp_path, first), say=lambda _: None, test=False)
    again = search_for(5)
    assert again.tuning_id == first.tuning_id  # the trial count is not what the search is
    runner = FakeRunner(tmp_path, again)
    summary = run_search(again, tmp_path, runner, say=lambda _: None, test=False)
    assert len(runner.calls) == 2 and summary["trials"] == 5  # three were recorded already
    assert [t["trial"] for t in summary["trial_records"]] == [0, 1, 2, 3, 4]
    # the cost of the trials an earlier process ran is read from their records, not counted as 0
    assert [t["minutes"] for t in summary["trial_records"][:3]] == [pytest.approx(1.0)] * 3
    assert summary["search_minutes"] >= 3.0


def test_another_space_or_budget_is_another_search():
    base = search_for(4)
    assert search_for(4, seed=1).tuning_id != base.tuning_id
    other = Search(model="gru4rec", dataset="amazon-scientific", space=[Dimension.parse("lr", "log:1e-3:1e-1")],
                   trials=4, budget=Budget(steps=300))
    assert other.tuning_id != base.tuning_id
    assert Search(**{**base.__dict__, "budget": Budget(steps=600)}).tuning_id != base.tuning_id


def test_the_time_budget_stops_starting_trials(tmp_path, monkeypatch):
    import recbench.run.tuning as tuning

    clock = iter(range(0, 10_000, 60))  # each reading a minute later: a trial "takes" minutes
    monkeypatch.setattr(tuning.time, "perf_counter", lambda: float(next(clock)))
    search = search_for(20, max_minutes=5)
    runner = FakeRunner(tmp_path, search)
    summary = run_search(search, tmp_path, runner, say=lambda _: None, test=False)
    assert 1 <= summary["trials"] < 20


@pytest.mark.parametrize("space, message", [
    (["depth=int:1:3"], "gru4rec' has no such option"),
    (["lr=log:0:1"], "empty or not positive"),
    (["lr=float:0.1:0.01"], "empty"),
    (["layers=float:1.5:3"], "whole number"),
    (["lr"], "write NAME=log:LOW:HIGH"),
    (["recipe=choice:recbench"], "at least two values"),
    (["dropout=normal:0:1"], "write log:LOW:HIGH"),
])
def test_a_space_the_model_cannot_take_is_refused_naming_the_option(space, message):
    with pytest.raises(CellError, match=message):
        parse_space("gru4rec", space)


def test_a_model_without_a_space_needs_one_given():
    with pytest.raises(CellError, match="declares no search space"):
        parse_space("nrms", None)


def test_the_tuned_row_has_its_own_key_and_label_but_shares_the_checkpoint():
    plain = Cell.resolve("gru4rec", "amazon-scientific", "test", {"lr": 0.003},
                         training=TrainSettings(budget=Budget(steps=1200)))
    tuned = Cell.resolve("gru4rec", "amazon-scientific", "test", {"lr": 0.003},
                         training=TrainSettings(budget=Budget(steps=1200), tuned="8trials"))
    assert tuned.key != plain.key
    assert tuned.model_label() == "gru4rec[lr=0.003]{tuned=8trials}" and plain.model_label() == "gru4rec[lr=0.003]"
    model = plain.build_model()
    assert checkpoint_key(model, plain.training, "f") == checkpoint_key(model, tuned.training, "f")
    again = Cell.from_spec(tuned.spec())  # a record's cell rebuilds as the tuned cell (verify re-runs it)
    assert again.key == tuned.key
    from recbench.results.cell_spec import CellSpecError

    with pytest.raises(CellSpecError, match="recbench tune"):
        tuned.spec().to_argv()
    # the trials time 20 queries and skip the offline scenario; the tuned row has the full runs
    search = Search(model="gru4rec", dataset="amazon-scientific", space=parse_space("gru4rec", None), trials=2,
                    budget=Budget(steps=1200), settings=EvalSettings(latency_queries=20, offline_texts=0),
                    test_settings=EvalSettings())
    assert search.cell({"lr": 0.003}, "valid").settings.latency_queries == 20
    row = search.cell({"lr": 0.003}, "test", tuned="2trials")
    assert (row.settings.latency_queries, row.settings.offline_texts) == (200, 256) and row.key == Cell.resolve(
        "gru4rec", "amazon-scientific", "test", {"lr": 0.003},
        training=TrainSettings(budget=Budget(steps=1200), tuned="2trials")).key


def test_a_checkpoint_of_the_valid_split_never_serves_the_test_split():
    """The valid cell's model trains without the validation targets, the test cell's with them:
    one reused for the other would score a trial with a model that saw its answers (or give the
    tuned row a model trained on less)."""
    from types import SimpleNamespace

    from recbench.run.runner import training_data_fingerprint

    task, part = SimpleNamespace(fingerprint="abc"), SimpleNamespace(info={})
    cells = {split: Cell.resolve("gru4rec", "amazon-scientific", split, training=TrainSettings(budget=Budget(steps=9)))
             for split in ("valid", "test")}
    valid, test = (training_data_fingerprint(task, part, cells[s]) for s in ("valid", "test"))
    assert valid != test and test == "abc|amazon-scientific|fields=None"  # the default split's key as before
