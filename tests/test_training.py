"""The training path: budgets, the loop's faults (NaN loss, Ctrl-C, a budget too small), the
checkpoint cache (reuse, refusal of a damaged or foreign folder), the validation slice, and the
trained baselines on small real data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from recbench.protocol.data import DataLocator
from recbench.protocol.settings import EvalSettings, EvaluationError
from recbench.protocol.kinds.base import split_for_training
from recbench.protocol.registry import baselines
from recbench.run.runner import build_dataset, run_cell
from recbench.run.training import (Budget, CheckpointCache, TrainingError, TrainSettings, checkpoint_key, fit_or_load, learning_rate_factor, train)

FAST = EvalSettings(n_bootstrap=20, latency_queries=3, progress=False, use_cache=False)


def test_budgets_parse_and_refuse_what_is_not_one():
    assert Budget.parse("6m") == Budget(steps=None, minutes=6.0)
    assert Budget.parse("90s") == Budget(steps=None, minutes=1.5)
    assert Budget.parse("400steps,6m") == Budget(steps=400, minutes=6.0)
    assert Budget.parse("400steps").describe() == "400steps"
    with pytest.raises(ValueError, match="'soon' is not a budget"):
        Budget.parse("soon")
    with pytest.raises(ValueError, match="too small for one training step"):
        Budget.parse("0steps")


def test_learning_rate_warms_up_then_decays_to_zero():
    factors = [learning_rate_factor(s, 10, 110) for s in range(111)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0) and factors[60] == pytest.approx(0.5) and factors[110] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))


class Toy:
    """A Trainable whose loss is (w - 3)^2; it can be told to produce NaN or be interrupted."""

    name = "toy"
    learning_rate = 0.1
    warmup_steps = 1

    def __init__(self, arg=None, nan_at: int = 0, interrupt_at: int = 0):
        self.nan_at, self.interrupt_at = nan_at, interrupt_at
        self.w = nn.Linear(1, 1, bias=False)
        self.steps = 0

    @property
    def params(self):
        return {"nan_at": self.nan_at, "interrupt_at": self.interrupt_at}

    def prepare_training(self, train_task, seed):
        return self.w

    def training_batches(self, rng):
        while True:
            yield None

    def training_loss(self, batch):
        self.steps += 1
        if self.steps == self.interrupt_at:
            raise KeyboardInterrupt
        loss = (self.w.weight.sum() - 3.0) ** 2
        return (loss * float("nan") if self.steps == self.nan_at else loss), 1, 0

    def save_checkpoint(self, folder):
        torch.save(self.w.state_dict(), folder / "w.pt")

    def load_checkpoint(self, folder):
        self.w.load_state_dict(torch.load(folder / "w.pt", weights_only=True))


class SlowToPrepare(Toy):
    """Preparation (a cached feature table, an item table) takes long; steps are quick."""

    def prepare_training(self, train_task, seed):
        import time

        time.sleep(2.0)
        return self.w

    def training_loss(self, batch):
        import time

        time.sleep(0.005)
        return super().training_loss(batch)


@pytest.mark.integration
def test_a_time_budget_plans_its_schedule_from_the_steps_not_the_preparation():
    report = train(SlowToPrepare(), None, lambda: 0.0, TrainSettings(budget=Budget(minutes=4 / 60), validations=1),
                   "auc", progress=False)
    # counting the 2 s of preparation as part of ten steps would plan at most 4 s / 0.2 s = 20 steps,
    # and the cosine schedule would reach a learning rate of 0 long before the budget ends; the
    # ~2 s left after preparation hold 60+ steps of 5-30 ms
    assert report.stopped_by == "time" and report.planned_steps > 40 and report.steps > 40


def test_the_loop_keeps_the_best_validated_state_and_stops_at_the_budget():
    toy = Toy()
    report = train(toy, None, lambda: -abs(float(toy.w.weight.sum()) - 3.0),
                   TrainSettings(budget=Budget(steps=60, minutes=None)), progress=False)
    assert report.steps == 60 and report.stopped_by == "steps"
    assert report.best_valid == max(report.valid_values) and report.chosen_step in report.valid_steps
    assert abs(float(toy.w.weight.sum()) - 3.0) == pytest.approx(-report.best_valid, abs=1e-6)


class Recorded(Toy):
    """RecBole's recipe on the toy: a constant rate, no clipping, a validation every 5 steps and
    early stopping after 3 without improvement; it records the rate of every step."""

    lr_schedule, clip_norm, validate_every, patience = "constant", 0.0, 5, 3
    warmup_steps = 0

    def training_loss(self, batch):
        loss, n, t = super().training_loss(batch)
        return loss * 1000.0, n, t  # a gradient far above 1: clipping would show


def test_the_recbole_recipe_keeps_its_rate_clips_nothing_and_stops_early():
    toy = Recorded()
    seen = []
    original = torch.optim.AdamW.step

    def spy(self, *a, **k):
        seen.append((self.param_groups[0]["lr"], float(self.param_groups[0]["params"][0].grad.norm())))
        return original(self, *a, **k)

    torch.optim.AdamW.step = spy
    try:
        values = iter([0.1, 0.3, 0.2, 0.3, 0.25, 0.29, 0.9])  # best at the 2nd validation, then 3 stale
        report = train(toy, None, lambda: next(values), TrainSettings(budget=Budget(steps=1000)), progress=False)
    finally:
        torch.optim.AdamW.step = original
    assert report.valid_steps == [5, 10, 15, 20, 25] and report.stopped_by == "early stopping"
    assert report.chosen_step == 10 and report.best_valid == 0.3 and report.steps == 25  # a tie is no improvement
    assert {lr for lr, _ in seen} == {0.1}  # no warm-up, no decay
    assert max(g for _, g in seen) > 100  # the gradient went to the optimiser unclipped


def test_the_recipe_is_an_option_of_the_sequence_models_and_keys_only_when_set():
    sasrec, recbole = baselines.get("gru4rec")(), baselines.get("gru4rec")(recipe="recbole")
    assert "recipe" not in sasrec.params and recbole.params["recipe"] == "recbole"
    assert recbole.lr_schedule == "constant" and recbole.patience == 10 and recbole.clip_norm == 0.0
    task = type("T", (), {"item_ids": np.arange(50), "cold_items": None, "targets": np.array([4, 9, 7]),
                          "past_of": lambda self, i: [np.arange(4), np.arange(5, 9), np.arange(3)][i],
                          "__len__": lambda self: 3, "name": "t"})()
    recbole.batch = 2
    recbole.prepare_training(task, 0)  # sequences of 5, 5 and 4 items: 4 + 4 + 3 prefix samples
    assert len(recbole.samples) == 11 and recbole.validate_every == 11 // 2 and sasrec.validate_every is None
    batch = next(recbole.training_batches(np.random.default_rng(0)))
    assert len(batch) == 2 and all(len(s) >= 2 for s in batch)
    loss, n, _ = recbole.training_loss(batch)
    assert n == 2 and torch.isfinite(loss)
    assert "samples" not in baselines.get("bert4rec")(recipe="recbole").params  # a cloze model keeps its batches
    with pytest.raises(ValueError, match="recipe 'keras' is not one of recbench, recbole"):
        baselines.get("bert4rec")(recipe="keras")


def test_a_nan_loss_stops_training_naming_the_step_and_keeps_no_checkpoint(tmp_path):
    cache = CheckpointCache(tmp_path)
    with pytest.raises(TrainingError, match="the training loss is nan at step 3"):
        fit_or_load(Toy(nan_at=3), None, lambda: 0.0, TrainSettings(budget=Budget(steps=10, minutes=None)), "d",
                    "auc", progress=False, cache=cache)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_training_leaves_no_checkpoint(tmp_path):
    cache = CheckpointCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        fit_or_load(Toy(interrupt_at=4), None, lambda: 0.0, TrainSettings(budget=Budget(steps=10, minutes=None)),
                    "d", "auc", progress=False, cache=cache)
    assert list(tmp_path.iterdir()) == []


def test_checkpoints_are_reused_and_a_damaged_or_foreign_one_is_refused(tmp_path):
    cache = CheckpointCache(tmp_path)
    settings = TrainSettings(budget=Budget(steps=20, minutes=None))
    first, _ = fit_or_load(Toy(), None, lambda: 0.0, settings, "data-1", "auc", progress=False, cache=cache)
    assert first["reused"] is False and first["steps"] == 20
    again, curves = fit_or_load(Toy(), None, lambda: 0.0, settings, "data-1", "auc", progress=False, cache=cache)
    assert again["reused"] is True and len(curves["loss"]) == 20
    assert fit_or_load(Toy(), None, lambda: 0.0, settings, "data-2", "auc", progress=False, cache=cache)[0]["reused"] is False
    folder = cache.folder(Toy(), checkpoint_key(Toy(), settings, "data-1"))
    (folder / "w.pt").write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="do not match their checksums"):
        retrained, _ = fit_or_load(Toy(), None, lambda: 0.0, settings, "data-1", "auc", progress=False, cache=cache)
    assert retrained["reused"] is False
    manifest = json.loads((folder / "recbench-checkpoint.json").read_text())
    (folder / "recbench-checkpoint.json").write_text(json.dumps({**manifest, "key": "another"}))
    with pytest.warns(UserWarning, match="for another configuration"):
        fit_or_load(Toy(), None, lambda: 0.0, settings, "data-1", "auc", progress=False, cache=cache)


@pytest.mark.usefixtures("real_data")
def test_the_validation_slice_comes_from_train_and_never_from_dev():
    task = build_dataset("amazon-scientific-mix", DataLocator()).load()
    train_task, valid = split_for_training(task, 0)
    assert len(valid.test) == 1000 and len(train_task.train) + len(valid.test) <= len(task.train)
    assert not set(valid.test.ids) & set(task.test.ids) and not set(train_task.train.ids) & set(task.test.ids)
    assert not set(valid.test.ids) & set(train_task.train.ids) and len(train_task.test) == 0
    task.train.labels = np.zeros_like(task.train.labels)
    with pytest.raises(EvaluationError, match="no impression with a click"):
        split_for_training(task, 0)


@pytest.mark.usefixtures("real_data", "isolated_cache")
def test_nrms_trains_records_its_training_and_reuses_its_checkpoint(tmp_path):
    training = TrainSettings(budget=Budget(steps=15, minutes=None))
    first = run_cell("nrms", "ml100k-mix", settings=FAST, results_dir=tmp_path, training=training)
    t = first.record["training"]
    assert t["steps"] == 15 and t["examples"] == 15 * 32 and t["reused"] is False and t["valid_metric"] == "auc"
    with np.load(tmp_path / first.record["sidecars"]["training"]) as curves:
        assert len(curves["loss"]) == 15 and np.isfinite(curves["loss"]).all() and len(curves["valid_value"]) >= 1
    second = run_cell("nrms", "ml100k-mix", settings=FAST, results_dir=tmp_path, training=training)
    assert second.record["training"]["reused"] is True
    assert second.record["metrics"] == first.record["metrics"]  # the same weights score the same


@pytest.mark.usefixtures("real_data", "isolated_cache")
def test_biencoder_losses_lora_and_its_sentence_transformers_folder(tmp_path):
    task = build_dataset("ml100k-mix", DataLocator()).load()
    train_task, _ = split_for_training(task, 0)
    model = baselines.get("biencoder")(batch=4, pooling="mix", redundancy=0.1, uniformity=0.1)
    module = model.prepare_training(train_task, 0)
    batch = next(model.training_batches(np.random.default_rng(0)))
    assert all(len(c) <= 16 and lab.sum() >= 1 for _, c, lab in batch)
    for loss in ("mince", "infonce", "bce", "margin", "ranknet"):
        model.loss = loss
        module.zero_grad()
        value, examples, texts = model.training_loss(batch)
        value.backward()
        assert torch.isfinite(value) and examples == 4 and texts > 4, loss
        top = model.bert.encoder.layer[-1].output.dense.weight
        assert top.grad is not None and top.grad.abs().sum() > 0, loss
        assert model.bert.encoder.layer[0].output.dense.weight.grad is None  # frozen and cached
    lora = baselines.get("biencoder")(lora=4, pooling="sasrec", batch=4)
    trainable = [n for n, p in lora.prepare_training(train_task, 0).named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith(("pooling.", "log_temperature")) for n in trainable)
    assert any(n.startswith("pooling.") for n in trainable)
    lora.training_loss(next(lora.training_batches(np.random.default_rng(0))))[0].backward()
    lora.save_checkpoint(tmp_path)
    st = baselines.get("sbert")(arg=str(tmp_path / "sentence-transformer"))
    texts = task.item_texts()[:5]
    np.testing.assert_allclose(st.encode(texts), lora.encode(texts), atol=1e-5)


def test_biencoder_options_are_checked():
    with pytest.raises(ValueError, match="loss must be one of mince, infonce, bce, margin, ranknet"):
        baselines.get("biencoder")(loss="hinge")
    with pytest.raises(ValueError, match="pooling must be one of mean, topk, mix, sasrec"):
        baselines.get("biencoder")(pooling="max")


def test_a_time_budget_that_ends_before_one_step_is_a_clear_error(tmp_path):
    class Slow(Toy):
        def prepare_training(self, train_task, seed):
            import time

            time.sleep(0.05)  # set-up eats the whole budget
            return self.w

    with pytest.raises(TrainingError, match="ended before one step of 'toy'"):
        train(Slow(), None, lambda: 0.0, TrainSettings(budget=Budget(steps=None, minutes=0.0005)), progress=False)


def test_biencoder_scores_an_empty_history_as_a_tie_not_an_error():
    from recbench.baselines._neural import pad_rows

    model = baselines.get("biencoder")(pooling="mix")
    vectors = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    hist, hmask = pad_rows([np.array([], dtype=np.int64), np.array([1, 2])])
    cand, _ = pad_rows([np.array([3, 4]), np.array([3, 4])])
    scores = model._scores(vectors, hist, hmask, cand)
    assert torch.all(scores[0] == 0) and torch.isfinite(scores).all() and scores[1].abs().sum() > 0


def test_sasrec_pooling_starts_near_the_newest_item_not_as_noise():
    """At initialisation the user vector must still carry the history (the residual path): with
    position rows drawn N(0, 1) it was noise, and 250 steps of training stayed at chance."""
    from recbench.baselines.encoders._biencoder_net import SASRecPooling

    torch.manual_seed(0)
    pooling = SASRecPooling(384).eval()
    items = torch.nn.functional.normalize(torch.randn(4, 5, 384), dim=-1)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4, [True] * 2 + [False] * 3])
    with torch.no_grad():
        user = torch.nn.functional.normalize(pooling(items, mask), dim=-1)
    newest = items[torch.arange(4), mask.sum(dim=1) - 1]
    assert (user * newest).sum(dim=-1).min() > 0.5


class Noisy(Toy):
    """Batches drawn from the seed's generator and dropout-like torch noise in the loss: a resumed
    run must replay both to end where an uninterrupted one ends."""

    def __init__(self, arg=None, interrupt_at: int = 0):
        super().__init__(arg, interrupt_at=interrupt_at)
        torch.manual_seed(0)
        self.w = nn.Linear(4, 1, bias=False)

    @property
    def params(self):  # the interruption is not part of the configuration
        return {}

    def training_batches(self, rng):
        while True:
            yield rng.standard_normal((8, 4)).astype(np.float32)

    def training_loss(self, batch):
        self.steps += 1
        if self.steps == self.interrupt_at:
            raise KeyboardInterrupt
        x = torch.from_numpy(batch) * (torch.rand(8, 4) > 0.2)
        return ((self.w(x).squeeze(-1) - x.sum(dim=1)) ** 2).mean(), 8, 0


def test_an_interrupted_run_resumes_from_its_saved_state_and_ends_in_the_same_weights(tmp_path):
    settings = TrainSettings(budget=Budget(steps=30), validations=2, resume_every_seconds=0.0)
    whole = Noisy()
    fit_or_load(whole, None, lambda: 0.0, settings, "d", "auc", progress=False, cache=CheckpointCache(tmp_path / "a"))

    cache = CheckpointCache(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        fit_or_load(Noisy(interrupt_at=17), None, lambda: 0.0, settings, "d", "auc", progress=False, cache=cache)
    saved = list((tmp_path / "b").glob(".resume-*.pt"))
    assert len(saved) == 1 and not [p for p in (tmp_path / "b").iterdir() if p.is_dir()]  # no checkpoint yet
    resumed = Noisy()
    section, curves = fit_or_load(resumed, None, lambda: 0.0, settings, "d", "auc", progress=False, cache=cache)
    assert section["resumed_at_step"] == 16 and section["steps"] == 30 and resumed.steps == 14
    assert torch.equal(resumed.w.weight, whole.w.weight)
    assert len(curves["loss"]) == 30 and not list((tmp_path / "b").glob(".resume-*.pt"))  # cleared when done


def test_a_cell_without_a_step_budget_takes_its_models_default_and_a_time_alone_caps_it():
    from recbench.run.cells import Cell

    nrms = baselines.get("nrms")
    cell = Cell.resolve("nrms", "ml100k-mix", training=TrainSettings())
    assert cell.training.budget == Budget(steps=Budget.parse(nrms.default_budget).steps)
    capped = Cell.resolve("nrms", "ml100k-mix", training=TrainSettings(budget=Budget.parse("6m")))
    assert capped.training.budget.steps == cell.training.budget.steps and capped.training.budget.minutes == 6.0
    assert capped.key != cell.key

    class NoDefault:
        name = "x"

    with pytest.raises(ValueError, match="declares no default training budget"):
        Budget().with_model_default(NoDefault())


def test_a_record_names_its_checkpoint_relative_to_the_cache_root_and_finds_it_again(isolated_cache):
    """A committed record must not carry the machine's home folder (/root/.cache/...)."""
    from recbench.protocol.checkpoints import resolve_checkpoint

    settings = TrainSettings(budget=Budget(steps=5, minutes=None))
    section, _ = fit_or_load(Toy(), None, lambda: 0.0, settings, "data-1", "auc", progress=False)
    assert section["checkpoint"].startswith("checkpoints/") and str(isolated_cache) not in section["checkpoint"]
    folder = resolve_checkpoint(section["checkpoint"])
    assert folder.is_dir() and folder.parent == isolated_cache / "checkpoints"
    again, _ = fit_or_load(Toy(), None, lambda: 0.0, settings, "data-1", "auc", progress=False)
    assert again["reused"] is True and again["checkpoint"] == section["checkpoint"]
    assert resolve_checkpoint(folder) == folder  # an absolute path stays as given


def test_training_on_another_device_records_it_restores_the_default_and_shares_the_checkpoint(tmp_path, monkeypatch):
    # "cpu:0" takes the accelerator path (move, default device, move back) on a machine without one
    cache = CheckpointCache(tmp_path)
    settings = TrainSettings(budget=Budget(steps=20, minutes=None))
    monkeypatch.setenv("RECBENCH_TRAIN_DEVICE", "cpu:0")
    toy = Toy()
    section, _ = fit_or_load(toy, None, lambda: 0.0, settings, "data-1", "auc", progress=False, cache=cache)
    assert section["device"] == "cpu:0" and section["reused"] is False
    assert torch.get_default_device() == torch.device("cpu") and toy.w.weight.device.type == "cpu"
    monkeypatch.delenv("RECBENCH_TRAIN_DEVICE")
    again, _ = fit_or_load(Toy(), None, lambda: 0.0, settings, "data-1", "auc", progress=False, cache=cache)
    assert again["reused"] is True and again["device"] == "cpu:0"  # where the weights were trained


def test_asking_for_cuda_where_there_is_none_is_a_clear_error(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("RECBENCH_TRAIN_DEVICE", "cuda")
    monkeypatch.setattr(Toy, "train_devices", ("cpu", "cuda"), raising=False)
    with pytest.raises(TrainingError, match="RECBENCH_TRAIN_DEVICE=cuda.*no CUDA device"):
        train(Toy(), None, lambda: 0.0, TrainSettings(budget=Budget(steps=2, minutes=None)), progress=False)


def test_a_model_not_written_for_an_accelerator_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("RECBENCH_TRAIN_DEVICE", "cuda")
    with pytest.raises(TrainingError, match="model 'toy' trains on cpu only"):
        train(Toy(), None, lambda: 0.0, TrainSettings(budget=Budget(steps=2, minutes=None)), progress=False)
