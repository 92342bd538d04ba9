"""--seen-items (issue 38): the evaluation rule as a protocol setting. Keeping a user's history
in the ranking can only add competitors, so no query scores higher under "kept"; the rule keys
the cell and names the row; other kinds refuse it."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from recbench.api import EvalSettings, baselines, evaluate
from recbench.cli import app
from recbench.protocol.kinds.sequences import seen_exclusions
from recbench.protocol.settings import EvaluationError
from test_every_model_smoke import sequences_task

FAST = dict(n_bootstrap=20, latency_queries=2, offline_texts=0, progress=False)


@pytest.mark.parametrize("model", ["sif", "bm25", "popularity"])
def test_keeping_the_history_never_raises_a_query(model, tmp_path):
    task = sequences_task()
    excluded = evaluate(baselines.get(model)(), task, EvalSettings(**FAST, cache_dir=str(tmp_path)))
    kept = evaluate(baselines.get(model)(), task, EvalSettings(**FAST, cache_dir=str(tmp_path), seen_items="kept"))
    for metric in ("ndcg@10", "recall@10", "mrr"):
        assert np.all(kept.per_query[metric] <= excluded.per_query[metric] + 1e-12), metric
    assert kept.details["seen_items"] == "kept" and kept.variant == {"seen_items": "kept"}
    assert excluded.variant.get("seen_items") is None


def test_the_rules_exclusions():
    task = sequences_task()
    items, offsets = seen_exclusions(task, "kept")
    assert len(items) == 0 and len(offsets) == len(task) + 1
    items, offsets = seen_exclusions(task, "excluded")
    first = set(items[offsets[0]:offsets[1]].tolist())
    assert first == set(task.history_of(0).tolist()) - {int(task.targets[0])}
    with pytest.raises(EvaluationError, match="excluded or kept"):
        seen_exclusions(task, "some")


def test_the_rule_names_the_row_and_other_kinds_refuse_it(tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["run", "-m", "sif", "-d", "lee", "--seen-items", "kept", "--results-dir", str(tmp_path)])
    assert "--seen-items applies to sequences tasks" in out.output
    out = runner.invoke(app, ["run", "-m", "sif", "-d", "ml100k", "--seen-items", "maybe", "--results-dir", str(tmp_path)])
    assert out.exit_code != 0 and "excluded or kept" in out.output
