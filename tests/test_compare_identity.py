"""`recbench compare` compares like with like, on every path (issue 34): the single-record test
and the seed-aware one both refuse records of different datasets (name, split, kind or the
fingerprint of the files read), and compare exactly the metric named or refuse it: a pairs run's
``spearman_mean`` was silently compared as the pooled ``spearman``."""

from __future__ import annotations

from pathlib import Path

import pytest

from recbench.results.records import RecordError
from recbench.protocol.registry import datasets
from recbench.results.seeds import compare_rows
from recbench.results.significance import compare_runs
from recbench.run.training import Budget, TrainSettings

from test_every_model_smoke import QUICK, dataset_of
from toy_tasks import edit_record, recorded_run


@pytest.fixture()
def toy_datasets():
    names = {"cmp-pairs": "pairs", "cmp-sequences": "sequences"}
    for name, kind in names.items():
        datasets.add(name, dataset_of(kind))
    yield
    for name in names:
        datasets.remove(name)


def run(tmp_path: Path, model: str, dataset: str, training=None) -> Path:
    return recorded_run(tmp_path / "runs", model, dataset, QUICK, training)


def test_the_single_record_path_refuses_another_datasets_files(tmp_path, toy_datasets, isolated_cache):
    a, b = run(tmp_path, "glove-avg", "cmp-pairs"), run(tmp_path, "random", "cmp-pairs")
    assert compare_runs(a, b).metric == "spearman"
    edit_record(b, lambda r: r["dataset"].update(fingerprint="other-files"))
    with pytest.raises(RecordError, match="dataset fingerprints differ"):
        compare_runs(a, b)


def test_exactly_the_metric_named_or_a_refusal(tmp_path, toy_datasets, isolated_cache):
    a, b = run(tmp_path, "glove-avg", "cmp-pairs"), run(tmp_path, "random", "cmp-pairs")
    assert compare_runs(a, b, "pearson").metric == "pearson"
    with pytest.raises(RecordError, match="records no metric 'ndcg@10'"):
        compare_runs(a, b, "ndcg@10")
    for path in (a, b):  # both hold a subset mean: it is not the pooled figure, so it is refused
        edit_record(path, lambda r: r["metrics"].update(spearman_mean=dict(r["metrics"]["spearman"])))
    with pytest.raises(RecordError, match="not 'spearman_mean'"):
        compare_runs(a, b, "spearman_mean")


def test_the_seed_aware_path_checks_every_seed_of_both_rows(tmp_path, toy_datasets, isolated_cache):
    seeds = [run(tmp_path, "sasrec", "cmp-sequences", TrainSettings(budget=Budget(steps=2), seed=s, validations=1))
             for s in (0, 1)]
    other = run(tmp_path, "popularity", "cmp-sequences")
    assert compare_rows(seeds, [other]).metric == "ndcg@10"
    edit_record(seeds[1], lambda r: r["dataset"].update(name="another-dataset"))
    with pytest.raises(RecordError, match="dataset names differ"):
        compare_rows(seeds, [other])
    with pytest.raises(RecordError, match="records no metric"):
        compare_rows(seeds[:1] + [seeds[0]], [other], metric="auc")
