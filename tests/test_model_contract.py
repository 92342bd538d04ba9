"""The model contract: the optional hooks a model may set are declared in one place, typed, and
a model that breaks them is refused when it registers or is built, naming the hook."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.protocol.model_contract import HOOKS, ModelContractError, check_model, check_model_class, hook
from recbench.protocol.registry import Registry, baselines


class Enc:
    name, params = "enc", {}

    def encode(self, texts, batch_size=32):
        return np.ones((len(texts), 2), dtype=np.float32)


def test_a_hook_the_model_does_not_set_gives_its_declared_default() -> None:
    assert hook(Enc(), "rerank_depth") == 100 and hook(Enc(), "first_stage") == "dense"
    assert hook(Enc(), "version") is None
    with pytest.raises(KeyError, match="not a declared model hook"):
        hook(Enc(), "rerank_dept")


def test_a_class_hook_of_the_wrong_type_is_refused_at_registration_naming_it() -> None:
    class Deep(Enc):
        rerank_depth = "many"

    registry = Registry("model", "recbench.no-such-group", check=lambda obj, name: check_model_class(obj, name))
    with pytest.raises(ModelContractError, match="'deep': hook 'rerank_depth' is 'many' .*it must be int"):
        registry.add("deep", Deep)

    class Stage(Enc):
        first_stage = "sparse"

    with pytest.raises(ModelContractError, match="first_stage is 'sparse'"):
        check_model_class(Stage, "stage")


def test_a_model_with_no_capability_is_refused() -> None:
    class Nothing:
        name, params = "nothing", {}

    with pytest.raises(ModelContractError, match="none of the capabilities"):
        check_model_class(Nothing, "nothing")


def test_a_trainable_without_a_learning_rate_is_refused_when_built() -> None:
    class Learner(Enc):
        def prepare_training(self, train_task, seed): ...
        def training_batches(self, rng): ...
        def training_loss(self, batch): ...
        def save_checkpoint(self, folder): ...
        def load_checkpoint(self, folder): ...

    with pytest.raises(ModelContractError, match="declares no learning_rate"):
        check_model(Learner())
    learner = Learner()
    learner.learning_rate = 1e-3
    check_model(learner)


def test_every_built_in_model_keeps_the_contract() -> None:
    for entry in baselines:
        check_model_class(entry.load(), entry.name)  # the registry ran it too; here it is asserted


def test_every_hook_says_why() -> None:
    assert all(h.why for h in HOOKS.values())


def test_one_order_picks_the_capability_a_model_is_served_through():
    """Issue 36: the protocols, the reranker and the cell's checks tell capabilities apart in one
    place; a model with several is served through the first a protocol takes (random: noise where
    item scorers are served, an encoder on pairs)."""
    from recbench.api import baselines
    from recbench.protocol.capabilities import dispatch, served_as

    random_model = baselines.get("random")
    assert served_as(random_model) == "item_scorer"
    assert served_as(random_model, ("token_encoder", "encoder")) == "encoder"
    assert served_as(baselines.get("colbert-minilm")) == "token_encoder"
    assert served_as(baselines.get("sasrec")) == "ranker" and served_as(baselines.get("sif")) == "encoder"
    assert dispatch(random_model(), {"encoder": lambda: "cosine", "item_scorer": lambda: "noise"}, "t") == "noise"
    with pytest.raises(TypeError, match="none of the capabilities this protocol serves"):
        dispatch(baselines.get("sasrec")(), {"encoder": lambda: 1}, "t")
