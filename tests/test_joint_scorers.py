"""The joint architectures of seed 002 (cross-encoder, half cross-encoder): an untrained
cross-encoder knows nothing and scores at chance, scoring a query's candidates alone gives what
scoring its impression gives, training runs on the harness's loop and round-trips through a
checkpoint, and no cold item's text reaches training."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.protocol.settings import EvalSettings
from recbench.protocol.kinds.impressions import impressions_training_split
from recbench.protocol.kinds.base import evaluate
from recbench.protocol.kinds.tasks import ImpressionsTask
from recbench.datasets._cold_impressions import with_cold_items
from recbench.datasets._sequences import ColdItems
from toy_tasks import topic_impressions

pytestmark = pytest.mark.integration
QUICK = EvalSettings(n_bootstrap=10, latency_queries=3, offline_texts=0, progress=False, use_cache=False)


def toy_task(n_imp: int = 60, seed: int = 0) -> ImpressionsTask:
    """Items are (topic, k); a user clicks the candidate of the topic of their history."""
    return topic_impressions(8, n_imp, 4 * n_imp, "toy-topics", "dev", users=9, seed=seed)


def fit(model, task, steps=6):
    from recbench.run.training import Budget, TrainSettings, fit_or_load

    train, valid = impressions_training_split(task, seed=0)
    return fit_or_load(model, train, lambda: evaluate(model, valid, QUICK).metrics["auc"]["value"],
                       TrainSettings(budget=Budget(steps=steps), validations=1), task.fingerprint, "auc",
                       progress=False)


def test_an_untrained_cross_encoder_scores_every_candidate_alike(isolated_cache):
    from recbench.baselines.joint.cross_encoder import CrossEncoder

    result = evaluate(CrossEncoder(), toy_task(), QUICK)
    assert result.metrics["auc"]["value"] == pytest.approx(0.5)  # all tied: one half per impression


@pytest.mark.parametrize("name", ["cross-encoder", "half-cross-encoder", "biencoder-colbert", "half-cross-colbert"])
def test_training_runs_and_a_query_scored_alone_matches_its_impression(name, isolated_cache, tmp_path):
    from recbench.protocol.registry import baselines

    task = toy_task()
    model = baselines.get(name)(batch=8)
    fit(model, task)
    flat = model.score_queries(task, np.arange(len(task.test)))
    imps = task.test
    for i in (0, 7, 31):
        alone = model.score_candidates(task, i, imps.candidates_of(i))
        assert np.allclose(alone, flat[imps.candidate_offsets[i]:imps.candidate_offsets[i + 1]], atol=1e-5)
    assert np.unique(np.round(flat, 6)).size > 1  # trained: no longer one tie
    model.save_checkpoint(tmp_path)
    again = baselines.get(name)(batch=8)
    again.load_checkpoint(tmp_path)
    assert np.allclose(again.score_queries(task, np.arange(len(task.test))), flat, atol=1e-5)


def test_a_cross_encoder_never_reads_a_cold_items_text_in_training(isolated_cache, monkeypatch):
    from recbench.baselines.joint.cross_encoder import CrossEncoder

    task = with_cold_items(toy_task(), ColdItems(0.3), None)
    cold_titles = {t for t, c in zip(task.item_fields["title"], task.cold_items) if c}
    model = CrossEncoder(batch=8)
    seen: list[str] = []
    tokenize = model.tokenizer

    def spy(*args, **kwargs):
        for a in args[:2]:
            if isinstance(a, list):
                seen.extend(a)
        return tokenize(*args, **kwargs)

    monkeypatch.setattr(model, "tokenizer", spy)
    model.tokenizer.batch_decode = tokenize.batch_decode
    original_loss = model.training_loss
    training: list[str] = []

    def loss(batch):
        seen.clear()
        out = original_loss(batch)
        training.extend(seen)
        return out

    monkeypatch.setattr(model, "training_loss", loss)
    fit(model, task, steps=4)
    assert training and not any(t in s for s in training for t in cold_titles)


def test_batched_maxsim_equals_the_per_candidate_definition_and_passes_gradients():
    import torch

    from recbench.baselines.joint.cross_encoder import maxsim

    torch.manual_seed(0)
    items = [torch.randn(n, 8, requires_grad=True) for n in (3, 0, 5, 1)]
    user = torch.randn(4, 8)
    got = maxsim(items, user)
    expected = torch.stack([(i @ user.T).max(dim=1).values.mean() if len(i) else torch.zeros(()) for i in items])
    assert torch.allclose(got, expected, atol=1e-6)
    got.sum().backward()
    assert items[0].grad is not None and items[2].grad.shape == (5, 8)
    assert torch.equal(maxsim(items, torch.zeros(0, 8)), torch.zeros(4))  # no history token: 0, not NaN
