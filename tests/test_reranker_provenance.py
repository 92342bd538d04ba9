"""A reranker loaded from a checkpoint is named by the cell that trained it (model, dataset, budget,
seed: kept in the checkpoint's manifest), counts as trained, and verify says how to rebuild it."""

import json

from recbench.results.rows import reranks_from_checkpoint
from recbench.run.runner import reranker_label
from recbench.protocol.checkpoints import MANIFEST
from recbench.run.training import Budget, CheckpointCache, TrainSettings, fit_or_load
from recbench.run.verify import is_trained, reranker_checkpoint_problem
from tests.test_training import Toy

CELL = {"model": "cross-encoder", "model_options": {}, "dataset": "amazon-scientific-mix", "dataset_options": {},
        "split": "dev", "budget": "200steps", "seed": 0}


def test_the_checkpoint_keeps_the_cell_that_trained_it_and_the_row_is_named_by_it(tmp_path):
    cache = CheckpointCache(tmp_path)
    settings = TrainSettings(budget=Budget(steps=4, minutes=None))
    section, _ = fit_or_load(Toy(), None, lambda: 0.0, settings, "d", "auc", progress=False, cache=cache,
                             trained_by=CELL)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert json.loads((folder / MANIFEST).read_text())["trained_by"] == CELL
    spec = f"{Toy().name}:{folder}"
    assert reranker_label(spec) == "cross-encoder(amazon-scientific-mix,200steps,seed=0)"
    assert folder.name not in reranker_label(spec)  # no folder hash in a row's name
    assert reranker_label("colbert-minilm") == "colbert-minilm"  # zero-shot: as given


def test_a_row_reranked_by_a_checkpoint_counts_as_trained_and_verify_names_the_rebuild(tmp_path, monkeypatch):
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "empty-cache"))  # whatever this machine trained before
    record = {"settings": {"rerank": "cross-encoder:checkpoints/cross-encoder-37e378828c904efc49b7"},
              "details": {"pipeline": {"trained_by": CELL}}}
    assert reranks_from_checkpoint(record) and is_trained(record)
    problem = reranker_checkpoint_problem(record)
    assert "not on this machine" in problem
    assert "recbench run -m cross-encoder -d amazon-scientific-mix --train-budget 200steps --train-seed 0" in problem
    untraced = {"settings": record["settings"], "details": {}}
    assert "cannot be rebuilt from what the record holds" in reranker_checkpoint_problem(untraced)
    zero_shot = {"settings": {"rerank": "colbert-minilm"}}
    assert not reranks_from_checkpoint(zero_shot) and not is_trained(zero_shot)
    assert reranker_checkpoint_problem(zero_shot) is None
