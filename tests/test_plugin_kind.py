"""A task kind added from outside recbench, as a plugin: one module and three entry points,
no file of recbench touched. The toy kind ("odd-one-out": which of three texts does not belong)
runs end to end through `recbench run`, its record carries its primary metric inside the range
the kind declares, and `recbench list` shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recbench.api import EvalSettings, TaskKind, get_kind, register_kind, task_kinds

TOY_MODULE = textwrap.dedent('''
    """A toy task kind, dataset and model, all from a plugin."""
    from dataclasses import dataclass, field
    from typing import Any, ClassVar

    import numpy as np

    from recbench.api import Dataset, Encoder, EvalResult, RATE, TaskKind, mean_with_ci
    from toy_plugin_models import LetterCounts  # noqa: F401 (the tests' toy encoder: tests/toy_plugin_models.py)


    @dataclass
    class OddOneOutTask:
        name: str
        split: str
        triples: list          # (text, text, text)
        odd: np.ndarray        # index of the odd one in each triple
        fingerprint: str = "toy"
        info: dict = field(default_factory=dict)
        kind: ClassVar[str] = "odd-one-out"

        def __len__(self):
            return len(self.triples)

        @property
        def sizes(self):
            return {"triples": len(self)}


    def evaluate_odd_one_out(model, task, settings):
        vecs = [model.encode(list(t)) for t in task.triples]
        picks = []
        for v in vecs:
            v = v / np.linalg.norm(v, axis=1, keepdims=True)
            sim = v @ v.T
            picks.append(int(np.argmin(sim.sum(axis=1))))
        hit = (np.array(picks) == task.odd).astype(float)
        metric = mean_with_ci(hit, settings.n_bootstrap, settings.seed)
        return EvalResult(metrics={"accuracy": metric}, primary_metric="accuracy", timing={},
                          per_query={"query_id": np.arange(len(task)), "accuracy": hit})


    ODD_ONE_OUT = TaskKind(name="odd-one-out", evaluate=evaluate_odd_one_out, needs=(Encoder,),
                           primary_metric="accuracy", metric_ranges={"accuracy": RATE},
                           description="three texts; which one does not belong")


    class Triples(Dataset):
        kind = "odd-one-out"
        description = "toy triples"

        def load(self, split=None):
            split = self.check_split(split)
            animals, colours = ["cat", "dog", "cow", "hen"], ["red", "blue", "green", "pink"]
            triples, odd = [], []
            for i in range(8):
                a, b, c = animals[i % 4], animals[(i + 1) % 4], colours[i % 4]
                triples.append((a, c, b) if i % 2 else (c, a, b))
                odd.append(1 if i % 2 else 0)
            return OddOneOutTask(name=self.name, split=split, triples=triples, odd=np.array(odd))


''')


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """A distribution installed on sys.path the way pip would: a module and a dist-info folder
    whose entry_points.txt names the kind, the dataset and the model."""
    (tmp_path / "toy_kind.py").write_text(TOY_MODULE)
    info = tmp_path / "toy_kind-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-kind\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[recbench.task_kinds]\nodd-one-out = toy_kind:ODD_ONE_OUT\n\n"
        "[recbench.datasets]\ntoy-triples = toy_kind:Triples\n\n"
        "[recbench.baselines]\nletters = toy_kind:LetterCounts\n")
    return tmp_path


def run_cli(args: list[str], plugin: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin), *sys.path]))
    return subprocess.run([sys.executable, "-m", "recbench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.integration
def test_a_plugin_adds_a_task_kind_end_to_end(plugin_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    done = run_cli(["run", "-m", "letters", "-d", "toy-triples", "--results-dir", str(out), "--no-progress",
                    "--latency-queries", "0"], plugin_dir, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (record_path,) = out.glob("*.json")
    record = json.loads(record_path.read_text())
    assert record["dataset"]["kind"] == "odd-one-out"
    assert record["primary_metric"] == "accuracy"
    assert 0.0 <= record["metrics"]["accuracy"]["value"] <= 1.0
    listing = run_cli(["list"], plugin_dir, tmp_path)
    assert listing.returncode == 0, listing.stderr[-3000:]
    assert "toy-triples" in listing.stdout and "letters" in listing.stdout


def test_a_kind_must_declare_the_range_of_its_primary_metric() -> None:
    with pytest.raises(ValueError, match="primary metric 'accuracy' has no range"):
        TaskKind(name="bad", evaluate=lambda m, t, s: None, needs=(object,), primary_metric="accuracy",
                 metric_ranges={"ndcg@10": (0.0, 1.0)})


def test_a_plugin_entry_that_is_not_a_task_kind_is_refused_by_name() -> None:
    task_kinds.add("not-a-kind", object())  # type: ignore[arg-type]
    try:
        with pytest.raises(TypeError, match="'not-a-kind' is a object, not a recbench TaskKind"):
            get_kind("not-a-kind")
    finally:
        task_kinds.remove("not-a-kind")


def test_a_registered_kind_is_what_the_harness_asks() -> None:
    from recbench.api import Encoder, evaluate, supports

    calls = []
    kind = register_kind(TaskKind(name="echo", evaluate=lambda m, t, s: calls.append(t) or "done",
                                  needs=(Encoder,), primary_metric="hits", metric_ranges={"hits": (0, 1)}))
    try:
        class Enc:
            name = "enc"

            def encode(self, texts, batch_size=32):
                return None

        class Task:
            kind = "echo"

        assert supports(Enc, "echo") and not supports(object, "echo")
        assert evaluate(Enc(), Task(), EvalSettings()) == "done" and len(calls) == 1
        assert get_kind("echo") is kind
    finally:
        task_kinds.remove("echo")
