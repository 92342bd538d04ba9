"""The trained full-ranking baselines and their train parts: the sequences split (each user's
sequence before the validation item), the wine catalogs' train/test item split (no test item's
text reaches training), SASRec, RecoBERT, Recformer (zero-shot and fine-tuned) and the trained
ColBERT, with their bad inputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from recbench.run.cells import Cell
from recbench.protocol.data import DataLocator
from recbench.protocol.settings import EvalSettings
from recbench.protocol.kinds.base import evaluate, split_for_training
from recbench.run.runner import build_dataset, run_cell
from recbench.run.training import Budget, CheckpointCache, TrainSettings, train
from recbench.datasets._sequences import leave_one_out
from recbench.datasets.wine import held_out_item_mask

pytestmark = pytest.mark.integration  # model weights, training or a process per cell


FAST = EvalSettings(n_bootstrap=20, latency_queries=3, progress=False, use_cache=False)
WINE_HEADER = ["", "country", "description", "designation", "points", "price", "province", "region_1", "region_2",
               "taster_name", "taster_twitter_handle", "title", "variety", "winery"]


def write_wine_csv(path, n: int, order=None) -> list[dict]:
    """A catalog in the 130k file's layout: ``n`` reviews of four varieties in two provinces."""
    rows = []
    for i in range(n):
        variety = ["Merlot", "Riesling", "Syrah", "Malbec"][i % 4]
        rows.append({"": str(i), "country": "US", "description": f"review {i}: a {variety.lower()} with notes of "
                     f"{['cherry', 'apple', 'pepper', 'plum'][i % 4]} and oak number {i}", "designation": "",
                     "points": "90", "price": "20", "province": ["California", "Oregon"][i % 2], "region_1": "",
                     "region_2": "", "taster_name": "", "taster_twitter_handle": "", "title": f"Winery {i} 2015 {variety}",
                     "variety": variety, "winery": f"Winery {i}"})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=WINE_HEADER)
        w.writeheader()
        for j in (order if order is not None else range(n)):
            w.writerow(rows[j])
    return rows


def wine_locator(tmp_path, n: int, order=None) -> DataLocator:
    write_wine_csv(tmp_path / "data" / "wine" / "winemag-data-130k-v2.csv", n, order)
    return DataLocator(data_dir=tmp_path / "data")


# --- the wine catalogs' train part ---------------------------------------------------------------
def test_no_test_item_text_reaches_the_train_part_and_queries_are_test_items(tmp_path):
    locator = wine_locator(tmp_path, 200)
    for name in ("wine-tdm", "wine-similar"):
        task = build_dataset(name, locator).load()
        is_test = held_out_item_mask([str(i) for i in range(200)], 0.2, 0)
        assert task.info["test_items"] == int(is_test.sum()) and 20 < is_test.sum() < 60
        test_texts = {task.item_fields[f][r] for r in np.flatnonzero(is_test) for f in ("description", "title")}
        train_task, valid_task = split_for_training(task, seed=0)
        for part in (train_task, valid_task):
            seen = {t for f in part.item_fields.values() for t in f}
            assert not (seen & test_texts)  # not one test item's title or description
            assert not set(part.item_ids) & {str(r) for r in np.flatnonzero(is_test)}
        assert not set(train_task.item_ids) & set(valid_task.item_ids)  # validation items held out of training
        owners = task.query_items if task.query_items is not None else task.relevant
        assert is_test[owners].all()  # queries come from test items only
        assert len(task.item_ids) == 200  # retrieval over the whole catalog


def test_the_item_split_follows_the_id_not_the_row_order(tmp_path):
    first = build_dataset("wine-tdm", wine_locator(tmp_path / "a", 120)).load()
    shuffled = build_dataset("wine-tdm", wine_locator(tmp_path / "b", 120, order=np.random.default_rng(3).permutation(120))).load()
    ids = lambda t: sorted(t.item_ids[t.relevant].tolist())  # noqa: E731
    assert ids(first) == ids(shuffled)
    other = build_dataset("wine-tdm", wine_locator(tmp_path / "c", 120)).__class__(
        "wine-tdm", locator=DataLocator(data_dir=tmp_path / "c" / "data"), split_seed=1).load()
    assert ids(other) != ids(first)


def test_a_catalog_too_small_for_the_split_is_a_clear_error(tmp_path):
    locator = wine_locator(tmp_path, 4)
    with pytest.raises(ValueError, match=r"4 items split 20% test .* needs at least one test item and five train"):
        build_dataset("wine-tdm", locator).load()
    with pytest.raises(ValueError, match="test_fraction must lie strictly between 0 and 1"):
        build_dataset("wine-similar", locator, {"test_fraction": 1.5})


@pytest.mark.usefixtures("isolated_cache")
def test_recobert_trains_on_train_items_only_and_scores_the_sum_of_four_cosines(tmp_path, monkeypatch):
    from recbench.baselines.encoders.recobert import RecoBERT

    seen: list[str] = []
    original = RecoBERT.training_loss

    def spy(self, batch):
        rows, other, _ = batch
        seen.extend(self.descriptions[r] for r in np.r_[rows, other])
        return original(self, batch)

    monkeypatch.setattr(RecoBERT, "training_loss", spy)
    locator = wine_locator(tmp_path, 120)
    settings = TrainSettings(budget=Budget(steps=3), validations=1)
    rec = run_cell("recobert", "wine-similar", settings=FAST, locator=locator, results_dir=tmp_path / "r",
                   training=settings).record
    task = build_dataset("wine-similar", locator).load()
    is_test = held_out_item_mask(list(task.item_ids), 0.2, 0)
    assert seen and not set(seen) & {task.item_fields["description"][r] for r in np.flatnonzero(is_test)}
    assert rec["training"]["steps"] == 3 and 0 <= rec["metrics"]["ndcg@10"]["value"] <= 1
    # wine-tdm shares the train part, so it reuses the checkpoint instead of training again
    again = run_cell("recobert", "wine-tdm", settings=FAST, locator=locator, results_dir=None, training=settings).record
    assert again["training"]["reused"] is True

    model = RecoBERT()
    titles, descriptions = task.item_fields["title"][:3], task.item_fields["description"][:3]
    with torch.no_grad():
        t, d = model._title_description(titles, descriptions)
    four = (t[0] @ t.T) + (d[0] @ d.T) + (t[0] @ d.T) + (d[0] @ t.T)
    small = type(task)(name="x", split="test", item_ids=task.item_ids[:3], item_fields={k: v[:3] for k, v in task.item_fields.items()},
                       relevant=np.array([1]), relevant_offsets=np.array([0, 1]), excluded=np.array([0]),
                       excluded_offsets=np.array([0, 1]), query_items=np.array([0]))
    assert np.allclose(model.score_queries(small, np.array([0]))[0], four.numpy(), atol=1e-4)


# --- sequences ----------------------------------------------------------------------------------
def test_sequences_train_on_each_sequence_before_the_validation_item(real_data):
    task = build_dataset("amazon-scientific", DataLocator()).load("test")
    train_task, valid_task = split_for_training(task, seed=0)
    pasts = {u: task.past_of(i) for i, u in enumerate(task.users)}
    for i in range(0, len(train_task), 97):
        u = train_task.users[i]
        trained = np.r_[train_task.past_of(i), train_task.targets[i]]
        assert trained.tolist() == pasts[u][:-1].tolist()  # the sequence before the validation item
    for i in range(len(valid_task)):
        u = valid_task.users[i]
        assert valid_task.targets[i] == pasts[u][-1]  # the dataset's validation item (UniSRec's valid target)
        assert valid_task.history_of(i).tolist() == pasts[u][:-1][-50:].tolist()
    assert len(valid_task) == 1000 and len(set(valid_task.users)) == 1000


def successor_task(n_items: int = 30, users: int = 120):
    rng = np.random.default_rng(0)
    seqs, ids = [], []
    for u in range(users):
        start = int(rng.integers(0, n_items - 8))
        seqs.append(np.arange(start, start + 8))
        ids.append(f"u{u}")
    fields = {"title": [f"item {i}" for i in range(n_items)], "brand": ["" if i == 3 else "acme" for i in range(n_items)]}
    return leave_one_out("succ", "test", np.array([f"i{i}" for i in range(n_items)], dtype=object), fields, ids, seqs,
                         default_fields=("title", "brand"))


def test_sasrec_learns_a_successor_rule_from_ids_alone():
    from recbench.baselines.sequential.sasrec import SASRec

    task = successor_task()
    train_task, valid_task = split_for_training(task, seed=0)
    model = SASRec(dropout=0.1, batch=32, lr=5e-3)
    report = train(model, train_task, lambda: evaluate(model, valid_task, FAST).metrics["ndcg@10"]["value"],
                   TrainSettings(budget=Budget(steps=150), validations=2), "ndcg@10", progress=False)
    assert report.steps == 150
    assert evaluate(model, task, FAST).metrics["ndcg@10"]["value"] > 0.8  # chance is about 0.1


@pytest.mark.usefixtures("isolated_cache")
def test_an_interrupted_training_leaves_no_checkpoint_and_no_record(tmp_path, monkeypatch, real_data):
    from recbench.baselines.sequential.sasrec import SASRec

    calls = {"n": 0}
    original = SASRec.training_loss

    def interrupted(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(SASRec, "training_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_cell("sasrec", "ml100k", settings=FAST, results_dir=tmp_path / "r",
                 training=TrainSettings(budget=Budget(steps=10)))
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir())
    assert not list(CheckpointCache().root.glob("sasrec-*"))


def test_recformer_input_newest_item_first_with_item_positions_and_types():
    from recbench.baselines.sequential.recformer import CLS_TYPE, KEY_TYPE, VALUE_TYPE, Recformer

    task = successor_task()
    model = Recformer(zero_shot=True, max_length=24)
    model._prepare(task)
    assert model.details["items_without_title"] == 0
    ids, types, positions, attention = model._batch([[5, 4, 3]])
    assert ids.shape[1] <= 24 and ids[0, 0] == model.tokenizer.cls_token_id and types[0, 0] == CLS_TYPE
    first = positions[0] == 1
    words = model.tokenizer.convert_ids_to_tokens(ids[0][first].tolist())
    assert "5" in words and "3" not in words  # the newest item (5) comes first, as item 1
    assert set(types[0][first].tolist()) == {KEY_TYPE, VALUE_TYPE}
    assert set(positions[0][attention[0] == 1].tolist()) <= {0, 1, 2, 3}
    # item 3 has no brand: its sentence is the title alone (no empty "brand" key)
    third = model.tokenizer.convert_ids_to_tokens(ids[0][positions[0] == 3].tolist())
    assert "brand" not in third
    scores = model.score_queries(task, np.arange(4))
    assert scores.shape == (4, 30) and np.isfinite(scores).all()
    assert Cell.resolve("recformer", "amazon-scientific", options={"zero_shot": "true"}).training is None
    assert Cell.resolve("recformer", "amazon-scientific").training is not None


def test_recformer_refuses_an_item_with_no_text_naming_it():
    from recbench.baselines.sequential.recformer import Recformer

    task = successor_task()
    task.item_fields["title"][7] = ""
    task.item_fields["brand"][7] = ""
    with pytest.raises(ValueError, match=r"item 'i7' \(row 7\) has no text in any of the fields title, brand"):
        Recformer(zero_shot=True)._prepare(task)


def test_recformer_fine_tunes_in_two_stages_and_keeps_its_item_table(tmp_path):
    from recbench.baselines.sequential.recformer import Recformer

    task = successor_task()
    train_task, valid_task = split_for_training(task, seed=0)
    model = Recformer(batch=8, stage1_steps=4, refresh_every=2, max_length=64)
    tables = []
    original = model._refresh
    model._refresh = lambda: (tables.append(model.step), original())[1]
    train(model, train_task, lambda: 0.0, TrainSettings(budget=Budget(steps=7), validations=1), "ndcg@10",
          progress=False)
    assert tables == [0, 2, 4]  # stage 1 refreshes every 2 steps; from step 4 on (stage 2) the table stays
    module = model.module
    model.save_checkpoint(tmp_path)
    again = Recformer(batch=8, max_length=64)
    again.load_checkpoint(tmp_path)
    assert torch.equal(again.module.table, module.table)
    assert np.allclose(again.score_queries(task, np.arange(5)), model.score_queries(task, np.arange(5)), atol=1e-5)


def test_trained_colbert_projects_to_128_and_learns_with_pairwise_softmax(tmp_path):
    from recbench.baselines.encoders.colbert import ColBERTMiniLM

    task = successor_task()
    train_task, _ = split_for_training(task, seed=0)
    model = ColBERTMiniLM(train=True, batch=8)
    assert model.dim == 128 and Cell.resolve("colbert-minilm", "ml100k").training is None
    assert Cell.resolve("colbert-minilm", "ml100k", options={"train": "true"}).training is not None
    before = model.encode_tokens(["item 4. acme"])[0].copy()
    dense_before = model.encode(["item 4. acme", "item 9"])
    train(model, train_task, lambda: 0.0, TrainSettings(budget=Budget(steps=4), validations=1), "ndcg@10",
          progress=False)
    assert model.model.encoder.layer[0].attention.self.query.weight.grad is None  # lower layers frozen
    after = model.encode_tokens(["item 4. acme"])[0]
    assert after.shape[1] == 128 and not np.allclose(after, before)
    assert np.allclose(model.encode(["item 4. acme", "item 9"]), dense_before)  # the first stage stays untrained
    model.save_checkpoint(tmp_path)
    again = ColBERTMiniLM(train=True)
    again.load_checkpoint(tmp_path)
    assert np.allclose(again.encode_tokens(["item 4. acme"])[0], after, atol=1e-5)
    with pytest.raises(ValueError, match="trains on sequences and impressions"):
        ColBERTMiniLM(train=True).prepare_training(type("T", (), {"kind": "pairs"})(), 0)


def test_record_of_a_trained_ranker_says_what_it_trained_on(tmp_path, real_data, isolated_cache):
    rec = run_cell("sasrec", "ml100k", settings=FAST, results_dir=tmp_path,
                   training=TrainSettings(budget=Budget(steps=5), validations=1)).record
    assert rec["training"]["steps"] == 5 and rec["model"]["params"]["inputs"] == "item ids only"
    assert json.loads(next(tmp_path.glob("*.json")).read_text())["dataset"]["kind"] == "sequences"


@pytest.mark.usefixtures("isolated_cache")
def test_trained_colbert_on_impressions_learns_clicked_against_shown_not_clicked(tmp_path):
    from mind_fixture import write_mind
    from test_export import train_behaviours

    from recbench.baselines.encoders.colbert import ColBERTMiniLM

    write_mind(tmp_path / "data", train=train_behaviours())
    seen: list[tuple] = []
    original = ColBERTMiniLM.training_loss

    def spy(self, batch):
        seen.extend(batch)
        return original(self, batch)

    ColBERTMiniLM.training_loss = spy
    try:
        rec = run_cell("colbert-minilm", "mind-small", options={"train": True, "batch": 4}, settings=FAST,
                       locator=DataLocator(data_dir=tmp_path / "data"), results_dir=None,
                       training=TrainSettings(budget=Budget(steps=3), validations=1)).record
    finally:
        ColBERTMiniLM.training_loss = original
    task = build_dataset("mind-small", DataLocator(data_dir=tmp_path / "data")).load("dev")
    train_imps = task.train
    clicked = {(int(c), int(l)) for c, l in zip(train_imps.candidates, train_imps.labels)}
    assert len(seen) == 12 and all((p, 1) in clicked and (n, 0) in clicked for _, p, n in seen)
    assert rec["training"]["steps"] == 3 and rec["model"]["params"]["dim"] == 128
    assert rec["timing"]["stored_bytes_per_item"] > 0


def test_item_to_item_rows_on_other_fields_are_rows_of_their_own(tmp_path):
    locator = wine_locator(tmp_path, 60)
    plain = run_cell("sif", "wine-similar", settings=FAST, locator=locator, results_dir=None).record
    both = run_cell("sif", "wine-similar", settings=EvalSettings(**{**FAST.__dict__, "fields": ("title", "description")}),
                    locator=locator, results_dir=None).record
    assert plain["model"]["label"] == "sif" and both["model"]["label"] == "sif{fields=title+description}"
