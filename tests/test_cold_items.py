"""The cold-item protocol: a seeded (or time-based) part of the catalog is kept out of
everything a model learns from, and every metric is reported over warm and cold targets too.
An id-only model meets a cold item with an untrained embedding, so it must score at chance on
cold targets (a metamorphic test on the real data)."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.protocol.settings import EvalSettings
from recbench.protocol.kinds.sequences import sequences_training_split
from recbench.results.records import RecordError
from recbench.results.significance import query_values
from recbench.protocol.kinds.base import evaluate, get_kind
from recbench.protocol.invariants import check_metrics
from recbench.datasets._sequences import ColdItems, leave_one_out

FAST = EvalSettings(n_bootstrap=30, latency_queries=0, offline_texts=0, progress=False, use_cache=False)


def toy_task(cold: ColdItems | None, n_items: int = 200, n_users: int = 300, seed: int = 1, first_seen=None):
    rng = np.random.default_rng(seed)
    ids = np.array([f"item{i}" for i in range(n_items)], dtype=object)
    fields = {"title": [f"title of item {i}" for i in range(n_items)]}
    users = [f"u{u}" for u in range(n_users)]
    seqs = [rng.choice(n_items, size=int(rng.integers(4, 12)), replace=False) for _ in users]
    return leave_one_out("toy", "test", ids, fields, users, seqs, ("title",), cold=cold, first_seen=first_seen)


def test_the_hash_split_is_reproducible_seeded_and_near_its_fraction():
    ids = np.array([f"B00{i:05d}" for i in range(5000)], dtype=object)
    a = ColdItems(0.2).mask(ids, None, "toy")
    assert np.array_equal(a, ColdItems(0.2).mask(ids, None, "toy"))  # a hash, not a random draw
    assert 0.18 < a.mean() < 0.22
    assert not np.array_equal(a, ColdItems(0.2, seed=1).mask(ids, None, "toy"))
    # an item's status does not depend on the rest of the catalog (a hash of its own id)
    assert np.array_equal(ColdItems(0.2).mask(ids[:100], None, "toy"), a[:100])


def test_the_time_split_takes_the_items_first_seen_last():
    ids = np.array(["a", "b", "c", "d", "e"], dtype=object)
    first_seen = np.array([5.0, 1.0, np.inf, 9.0, 3.0])  # c never engaged: never cold
    assert ColdItems(0.5, by="time").mask(ids, first_seen, "toy").tolist() == [True, False, False, True, False]
    with pytest.raises(ValueError, match="toy: cold_by=time needs the time"):
        ColdItems(0.5, by="time").mask(ids, None, "toy")


@pytest.mark.parametrize("bad", [dict(fraction=0.0), dict(fraction=1.0), dict(fraction=0.2, by="random")])
def test_bad_cold_options_are_refused(bad):
    with pytest.raises(ValueError, match="cold"):
        ColdItems(**bad)


def test_no_cold_item_reaches_training_in_a_sequence_or_a_text():
    task = toy_task(ColdItems(0.25))
    cold = task.cold_items
    assert cold.any() and task.train_counts[cold].sum() == 0  # popularity learns nothing of them
    train, valid = sequences_training_split(task, seed=0)
    for part in (train, valid):
        assert not cold[part.past].any() and not cold[part.targets].any() and not cold[part.history].any()
        titles = np.array(part.item_fields["title"], dtype=object)
        assert (titles[cold] == "").all() and (titles[~cold] != "").all()
    assert toy_task(None).fingerprint != task.fingerprint  # another task: another checkpoint key


class Oracle:
    """Scores every user's target highest: 1.0 on every part."""

    name = "oracle"
    params: dict = {}

    def score_queries(self, task, queries):
        out = np.zeros((len(queries), len(task.item_ids)), dtype=np.float32)
        out[np.arange(len(queries)), task.targets[queries]] = 1.0
        return out


def test_metrics_come_for_all_warm_and_cold_targets_within_bounds():
    task = toy_task(ColdItems(0.3))
    result = evaluate(Oracle(), task, FAST)
    check_metrics(result.metrics, "oracle x toy", get_kind("sequences"))
    cold_target = task.cold_items[task.targets]
    for metric in ("ndcg@10", "recall@10", "mrr"):
        assert result.metrics[f"{metric}[cold]"]["value"] == 1.0
        assert result.metrics[f"{metric}[cold]"]["n"] == int(cold_target.sum())
        assert result.metrics[f"{metric}[warm]"]["n"] == int((~cold_target).sum())
    part = result.per_query["part"]
    assert (part == "cold").sum() == cold_target.sum()
    ids, values = query_values(result.per_query, "ndcg@10[cold]")
    assert len(ids) == cold_target.sum() and (values == 1.0).all()
    with pytest.raises(RecordError, match="asks for the 'cold' queries"):
        query_values({k: v for k, v in result.per_query.items() if k != "part"}, "ndcg@10[cold]")


def test_without_the_protocol_nothing_changes():
    result = evaluate(Oracle(), toy_task(None), FAST)
    assert "part" not in result.per_query and not any(k.endswith(("[cold]", "[warm]")) for k in result.metrics)


@pytest.mark.integration
def test_an_id_model_scores_at_chance_on_cold_targets(real_data, isolated_cache):
    """SASRec trained through the harness's loop on amazon-scientific with 20% of the items
    cold: their embeddings never move from their initial values, and its cold-target metrics
    lie within four standard errors of a random ranking's, while its warm ones are far above."""
    import torch

    from recbench.baselines.sequential.sasrec import SASRec
    from recbench.protocol.data import DataLocator
    from recbench.run.runner import build_dataset
    from recbench.run.training import Budget, TrainSettings, fit_or_load
    from test_metamorphic import chance_single_relevant, within_standard_errors

    task = build_dataset("amazon-scientific", DataLocator(), {"cold": 0.2}).load("test")
    train, valid = sequences_training_split(task, seed=0)
    model = SASRec()
    model.prepare_training(train, 0)
    initial = model.net.items.weight.detach().clone()
    fit_or_load(model, train, lambda: 0.0, TrainSettings(budget=Budget(steps=60), validations=1),
                task.fingerprint, "ndcg@10", progress=False)
    cold_rows = np.flatnonzero(task.cold_items) + 1  # row 0 pads
    warm_rows = np.flatnonzero(~task.cold_items) + 1
    after = model.net.items.weight.detach()
    assert torch.equal(after[cold_rows], initial[cold_rows])
    assert not torch.equal(after[warm_rows], initial[warm_rows])

    result = evaluate(model, task, FAST)
    cold = result.per_query["part"] == "cold"
    n_ranked = np.array([len(task.item_ids) - len(np.setdiff1d(task.history_of(i), [task.targets[i]]))
                         for i in np.flatnonzero(cold)])
    chance = chance_single_relevant(n_ranked)
    for metric in ("ndcg@10", "recall@10", "mrr"):
        within_standard_errors(result.per_query[metric][cold], chance[metric])
        assert result.metrics[f"{metric}[warm]"]["value"] > 3 * chance[metric][0].mean()


@pytest.mark.integration
@pytest.mark.parametrize("name", ["unisrec", "sasrec-hybrid", "sasrec-text", "sasrec-sid", "tiger"])
def test_a_text_model_never_encodes_a_cold_items_text_in_training(name, isolated_cache, monkeypatch):
    """The text sequence models encode the training task's texts, where every cold item's text
    is blank; a spy on the encoder sees every text that reaches it while the model trains."""
    from recbench.baselines.encoders.sbert import SBERT
    from recbench.protocol.registry import baselines
    from recbench.run.training import Budget, TrainSettings, fit_or_load

    task = toy_task(ColdItems(0.25))
    cold_titles = {t for t, c in zip(task.item_fields["title"], task.cold_items) if c}
    seen: list[str] = []
    original = SBERT.encode

    def spy(self, texts, batch_size=32):
        seen.extend(texts)
        return original(self, texts, batch_size)

    monkeypatch.setattr(SBERT, "encode", spy)
    train, valid = sequences_training_split(task, seed=0)
    model = baselines.get(name)(batch=64)
    quick = EvalSettings(n_bootstrap=1, latency_queries=0, offline_texts=0, progress=False, use_cache=False)
    fit_or_load(model, train, lambda: evaluate(model, valid, quick).metrics["ndcg@10"]["value"],
                TrainSettings(budget=Budget(steps=6), validations=2), task.fingerprint, "ndcg@10", progress=False)
    assert seen and not cold_titles & set(seen)
    # served afterwards, the model reads every item's text: cold items are served by their text
    result = evaluate(model, task, quick)
    assert cold_titles <= set(seen) and result.metrics["ndcg@10[cold]"]["n"] > 0


@pytest.mark.integration
def test_recformer_fine_tunes_without_cold_text_and_serves_cold_items_by_their_text(isolated_cache, monkeypatch):
    """Recformer's training table holds a blank (no-token) row for each cold item, left out of the
    softmax; served, the fine-tuned model encodes the cold items' real text into those rows."""
    import recbench.baselines.sequential.recformer as rf
    from recbench.protocol.registry import baselines
    from recbench.run.training import Budget, TrainSettings, fit_or_load

    task = toy_task(ColdItems(0.25), n_items=60, n_users=80)
    cold_titles = {t for t, c in zip(task.item_fields["title"], task.cold_items) if c}
    seen: list[str] = []
    original = rf.item_token_lists

    def spy(tokenizer, t, fields, attr_length):
        seen.extend(v for v in t.item_fields["title"] if v)
        return original(tokenizer, t, fields, attr_length)

    monkeypatch.setattr(rf, "item_token_lists", spy)
    train, valid = sequences_training_split(task, seed=0)
    model = baselines.get("recformer")(batch=8, stage1_steps=2, refresh_every=1)
    quick = EvalSettings(n_bootstrap=1, latency_queries=0, offline_texts=0, progress=False, use_cache=False)
    fit_or_load(model, train, lambda: evaluate(model, valid, quick).metrics["ndcg@10"]["value"],
                TrainSettings(budget=Budget(steps=3), validations=1), task.fingerprint, "ndcg@10", progress=False)
    assert seen and not cold_titles & set(seen)
    assert model.cold_rows is not None and int(model.cold_rows.sum()) == int(task.cold_items.sum())
    blank = model.module.table[torch_rows(task.cold_items)].clone()
    result = evaluate(model, task, quick)
    assert cold_titles <= set(seen) and result.metrics["ndcg@10[cold]"]["n"] > 0
    served = model.module.table[torch_rows(task.cold_items)]
    # each cold row now holds its own title's vector, no longer the shared blank one
    assert not np.allclose(served.numpy(), blank.numpy())
    assert len({tuple(np.round(v, 4)) for v in served.numpy()}) == len(served)
    # one encoder for every row: warm rows anew too, so cold and warm vectors are comparable
    fresh = model._encode([[r] for r in range(len(task.item_ids))])
    assert np.allclose(model.module.table.numpy(), fresh.numpy(), atol=1e-5)
    # a model loaded from its checkpoint (a later run reusing it) serves the same
    folder = isolated_cache / "recformer-checkpoint"
    folder.mkdir(parents=True)
    model.save_checkpoint(folder)
    again = baselines.get("recformer")(batch=8, stage1_steps=2, refresh_every=1)
    again.load_checkpoint(folder)
    assert evaluate(again, task, quick).metrics["ndcg@10[cold]"]["value"] == pytest.approx(
        result.metrics["ndcg@10[cold]"]["value"], abs=1e-6)


def torch_rows(mask: np.ndarray):
    import torch
    return torch.from_numpy(np.flatnonzero(mask))
