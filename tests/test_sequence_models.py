"""The id and text sequence references (GRU4Rec, BERT4Rec, UniSRec, the SASRec hybrid) on a
toy catalog: each learns (its loss falls), scores the whole catalog, and survives its own
checkpoint; BERT4Rec's cloze batches mask at least one item of every sequence."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.protocol.kinds.sequences import sequences_training_split
from recbench.protocol.registry import baselines
from recbench.datasets._sequences import leave_one_out

pytestmark = pytest.mark.integration  # torch training (and MiniLM for the text models)


def patterned_task(n_items=60, n_users=400, seed=0):
    """Users walk the catalog in steps of one (item i is followed by i + 1): learnable."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"i{i}" for i in range(n_items)], dtype=object)
    seqs = []
    for _ in range(n_users):
        start = int(rng.integers(0, n_items - 10))
        seqs.append(np.arange(start, start + int(rng.integers(5, 10))))
    return leave_one_out("walk", "test", ids, {"title": [f"step {i} of the walk" for i in range(n_items)]},
                         [f"u{u}" for u in range(n_users)], seqs, ("title",))


def train_briefly(model, train, steps, optimiser):
    """``steps`` optimiser steps at 3e-3 on the model's own batches (seed 0); the losses."""
    net = model.prepare_training(train, 0)
    opt = optimiser(net.parameters(), 3e-3)
    batches = model.training_batches(np.random.default_rng(0))
    losses = []
    for _ in range(steps):
        loss, _, _ = model.training_loss(next(batches))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


SMALL_CODES = {"levels": 2, "codes": 8, "branching": 4}


@pytest.mark.parametrize("name,options", [
    ("gru4rec", {}), ("bert4rec", {}), ("unisrec", {}), ("sasrec-hybrid", {}), ("sasrec-text", {}),
    ("sasrec-sid", SMALL_CODES),
    ("sasrec-sid", {**SMALL_CODES, "indexing": "sequential", "unique": "false"}),
])
def test_it_learns_scores_the_catalog_and_reloads(name, options, tmp_path, isolated_cache):
    import torch

    task = patterned_task()
    train, _ = sequences_training_split(task, seed=0)
    model = baselines.get(name)(batch=64, **options)
    losses = train_briefly(model, train, 150, torch.optim.Adam)
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10]), (losses[:3], losses[-3:])
    scores = model.score_queries(task, np.arange(len(task)))
    assert scores.shape == (len(task), len(task.item_ids)) and np.isfinite(scores).all()
    hits = np.mean(np.argmax(scores, axis=1) == task.targets)
    assert hits > 0.3  # a walk's next step is easy: far above chance (1/60)
    model.save_checkpoint(tmp_path)
    again = baselines.get(name)(batch=64, **options)
    again.load_checkpoint(tmp_path)
    np.testing.assert_allclose(again.score_queries(task, np.arange(20)), scores[:20], rtol=1e-5, atol=1e-5)


def test_bert4rec_masks_at_least_one_item_per_sequence():
    task = patterned_task()
    train, _ = sequences_training_split(task, seed=0)
    model = baselines.get("bert4rec")(batch=64, mask_ratio=0.05)
    model.prepare_training(train, 0)
    batch = next(model.training_batches(np.random.default_rng(0)))
    assert all(m.any() and len(m) == len(s) for s, m in batch)


def test_id_dropout_drops_id_parts_only_in_training():
    import torch

    from recbench.baselines.sequential._textseq_net import TextSeqNet

    net = TextSeqNet(50, 8, 4, 1, 1, 8, 0.0, 10, "linear", 0, use_ids=True, temperature=None, id_dropout=0.5)
    net.text.normal_()
    net.seen[:] = True
    net.train()
    torch.manual_seed(0)
    first, second = net.table(), net.table()
    assert not torch.equal(first, second)  # another draw of dropped ids each step
    net.eval()
    assert torch.equal(net.table(), net.table())
    without = TextSeqNet(50, 8, 4, 1, 1, 8, 0.0, 10, "linear", 0, use_ids=True, temperature=None)
    without.load_state_dict(net.state_dict())
    without.text.copy_(net.text)
    without.eval()
    assert torch.equal(without.table(), net.table())  # served, every seen item keeps its id


def test_tiger_generates_catalog_items_learns_the_walk_and_reloads(tmp_path, isolated_cache):
    import torch

    task = patterned_task()
    train, _ = sequences_training_split(task, seed=0)
    model = baselines.get("tiger")(batch=64, levels=2, codes=8, d_model=32, heads=2, d_ff=64, beam=5)
    losses = train_briefly(model, train, 200, torch.optim.AdamW)
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10]), (losses[:3], losses[-3:])
    scores = model.score_queries(task, np.arange(len(task)))
    in_beam = scores > -1e8
    assert scores.shape == (len(task), len(task.item_ids))
    assert (in_beam.sum(axis=1) == 5).all()  # every beam ends on five real, distinct items
    hits = np.mean(np.argmax(scores, axis=1) == task.targets)
    assert hits > 0.3, hits  # far above chance (1/60)
    model.save_checkpoint(tmp_path)
    again = baselines.get("tiger")(batch=64, levels=2, codes=8, d_model=32, heads=2, d_ff=64, beam=5)
    again.load_checkpoint(tmp_path)
    np.testing.assert_allclose(again.score_queries(task, np.arange(20)), scores[:20], rtol=1e-4, atol=1e-4)


def test_a_beam_as_wide_as_the_catalog_is_the_exact_ranking_by_sequence_log_probability():
    """With room for every item, the constrained beam returns each item once with the model's
    log-probability of its whole tuple: checked against teacher-forced scoring of every item."""
    import torch
    from torch.nn import functional as F

    from recbench.baselines.sequential._tiger_net import CodeTrie, constrained_beam_search, small_t5

    rng = np.random.default_rng(0)
    tokens = np.unique(rng.integers(2, 8, size=(25, 3)), axis=0)  # distinct tuples over tokens 2..7
    model = small_t5(8, 16, 1, 2, 32, 0.0, seed=0).eval()
    trie = CodeTrie(tokens, 8)
    ids = torch.from_numpy(rng.integers(2, 8, size=(3, 6)))
    attention = torch.ones_like(ids)
    items, logps = constrained_beam_search(model, ids, attention, trie, beam=len(tokens))
    with torch.no_grad():
        for q in range(3):
            assert sorted(items[q]) == list(range(len(tokens)))
            assert logps[q] == sorted(logps[q], reverse=True)
            labels = torch.from_numpy(tokens)
            out = model(input_ids=ids[q:q + 1].expand(len(tokens), -1), labels=labels)
            exact = F.log_softmax(out.logits, -1).gather(2, labels[..., None]).squeeze(-1).sum(1)
            np.testing.assert_allclose(np.array(logps[q]), exact.numpy()[items[q]], rtol=1e-4, atol=1e-4)
    narrow, _ = constrained_beam_search(model, ids, attention, trie, beam=4)
    assert all(len(n) == 4 and set(n) <= set(range(len(tokens))) for n in narrow)


def test_tiger_drops_the_columns_every_history_pads_and_its_outputs_do_not_move():
    """A batch of short histories encodes at the width of its longest one: T5's positions are
    relative, so the non-pad tokens' encodings and the decoder's log-probabilities are the same
    as at the full width (a pure speed-up, not another model)."""
    import torch

    model = baselines.get("tiger")(levels=2, codes=8, d_model=32, heads=2, d_ff=64, history=20)
    model.level_sizes = [8, 9]
    model._build(60, 0)
    model.net.eval()
    tokens = model._tokens(np.random.default_rng(0).integers(0, 8, size=(60, 2)))
    histories = [np.array([3, 4, 5]), np.array([7]), np.array([1, 2])]
    ids, attention = model._encoder_inputs(tokens, histories)
    assert ids.shape == (3, 3 * 2) and bool(ids[:, 0].ne(0).any())  # the longest history's width
    width = model.history * tokens.shape[1]
    full = torch.zeros((3, width), dtype=torch.long)
    full[:, width - ids.shape[1]:] = ids
    labels = torch.as_tensor(tokens[[6, 8, 3]])
    with torch.no_grad():
        trimmed_out = model.net(input_ids=ids, attention_mask=attention, labels=labels)
        full_out = model.net(input_ids=full, attention_mask=(full != 0).long(), labels=labels)
    np.testing.assert_allclose(trimmed_out.logits.numpy(), full_out.logits.numpy(), rtol=1e-5, atol=1e-5)
    empty, _ = model._encoder_inputs(tokens, [np.array([], dtype=np.int64)])
    assert empty.shape == (1, 1) and int(empty[0, 0]) == 0  # an empty history keeps one pad column


def test_tiger_bf16_trains_and_its_long_run_options_are_checked_and_keyed():
    import torch

    with pytest.raises(ValueError, match="precision"):
        baselines.get("tiger")(precision="fp16")
    with pytest.raises(ValueError, match="together"):
        baselines.get("tiger")(validate_every=100)
    with pytest.raises(ValueError, match="1 or more"):
        baselines.get("tiger")(validate_every=0, patience=3)
    plain = baselines.get("tiger")()
    assert "precision" not in plain.params and "patience" not in plain.params  # earlier cells' keys stay
    assert plain.validate_every is None and plain.patience is None
    long_run = baselines.get("tiger")(precision="bf16", validate_every=250, patience=4)
    assert long_run.params["precision"] == "bf16" and long_run.validate_every == 250 and long_run.patience == 4
    task = patterned_task()
    train, _ = sequences_training_split(task, seed=0)
    model = baselines.get("tiger")(batch=64, levels=2, codes=8, d_model=32, heads=2, d_ff=64, beam=5, precision="bf16")
    losses = train_briefly(model, train, 60, torch.optim.AdamW)
    assert all(np.isfinite(losses)) and np.mean(losses[-10:]) < np.mean(losses[:10]), (losses[:3], losses[-3:])
    scores = model.score_queries(task, np.arange(10))
    assert scores.dtype == np.float32 and ((scores > -1e8).sum(axis=1) == 5).all()


def test_tiger_encodes_a_batch_in_length_groups_and_its_loss_is_the_whole_batch_mean():
    """Grouping histories by length is bookkeeping, not another objective: without dropout the
    grouped loss and its gradient equal one forward pass over the batch at its full width."""
    import torch

    task = patterned_task()
    train, _ = sequences_training_split(task, seed=0)
    model = baselines.get("tiger")(batch=64, levels=2, codes=8, d_model=32, heads=2, d_ff=64, dropout=0.0)
    net = model.prepare_training(train, 0)
    net.eval()
    batch = next(model.training_batches(np.random.default_rng(0)))
    assert len({len(h) for h, _ in batch}) > 1  # histories of several lengths
    grouped, n, _ = model.training_loss(batch)
    grouped.backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    width = model.history * model._train_tokens.shape[1]
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    for j, (h, _) in enumerate(batch):
        flat = torch.as_tensor(model._train_tokens[h].ravel())
        ids[j, width - len(flat):] = flat
    labels = torch.as_tensor(model._train_tokens[[t for _, t in batch]])
    whole = net(input_ids=ids, attention_mask=(ids != 0).long(), labels=labels).loss
    whole.backward()
    assert n == len(batch)
    np.testing.assert_allclose(float(grouped.detach()), float(whole.detach()), rtol=1e-5)
    for g, p in zip(grads, net.parameters()):
        np.testing.assert_allclose(g.numpy(), p.grad.numpy(), rtol=1e-3, atol=1e-6)
