"""What a model may tell the harness, declared in one place.

A model is any object with a ``name``, ``params`` and at least one capability
(``capabilities.py``: ``Encoder``, ``TokenEncoder``, ``Ranker``, ``ItemScorer``, ``Trainable``). Beyond those, the harness reads the optional hooks below, and nothing else:
each has a type, a default and a reason. ``hook(model, name)`` is the only way the harness reads
one, so a misspelt hook name is a bug caught at once, and a model whose hook has the wrong type
is refused when it registers (``check_model_class``) or when it is built (``check_model``),
naming the hook, not deep in an evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recbench.protocol.capabilities import Encoder, ItemScorer, Ranker, TokenEncoder, Trainable


@dataclass(frozen=True)
class Hook:
    types: tuple[type, ...]
    default: Any
    why: str
    trainable_only: bool = False


NUMBER = (int, float)
HOOKS: dict[str, Hook] = {
    # identity
    "version": Hook((str, int), None, "changes when the model's code changes its output: part of the "
                    "embedding-cache key and the record, so an older figure is never taken for a newer one"),
    "floor": Hook((bool,), False, "a reference that knows nothing of the task (random, popularity): the board "
                  "marks its row as a floor, so its ★ reads as the cheapest point, not an answer"),
    "task_kinds": Hook((tuple, list), None, "the task kinds it serves (None: every kind its capabilities allow)"),
    "weights_fingerprint": Hook((str,), None, "a digest of weights loaded from a local folder, for the cache key"),
    # reported in the record
    "n_parameters": Hook((int,), None, "parameters, for the leaderboard's params column"),
    "stored_bytes_per_item": Hook((int, float), None, "what an index stores per item, when not one float32 vector"),
    "stored_bytes_per_text": Hook((int, float), None, "what a pair scorer keeps per text of the pairs' corpus (BM25: its term scores)"),
    "dim": Hook((int,), None, "the embedding dimension, checked against cached vectors"),
    "details": Hook((dict,), None, "protocol details recorded as they are (interaction, fields ...); "
                    "'representation' ({'item': ...}, code statistics) feeds the report's 'What an item is'"),
    # serving
    "first_stage": Hook((str,), "dense", "token encoders on full ranking: 'dense' (a mean-pooled vector "
                        "search picks what MaxSim re-ranks) or 'tokens' (document tokens near each query token)"),
    "rerank_depth": Hook((int,), 100, "how many first-stage candidates a token encoder re-ranks"),
    "eval_devices": Hook((tuple,), ("cpu",), "the torch device types it evaluates on (--device); a model "
                         "listing more moves itself there with to_device(device)"),
    "to_device": Hook((object,), None, "to_device(device): moves the weights (and what serving keeps) to "
                      "the evaluation device; called before the evaluation when --device is not cpu"),
    # training
    "learning_rate": Hook(NUMBER, None, "the peak learning rate", trainable_only=True),
    "warmup_steps": Hook((int,), 50, "linear warm-up steps before cosine decay", trainable_only=True),
    "weight_decay": Hook(NUMBER, 0.01, "AdamW's weight decay", trainable_only=True),
    "lr_schedule": Hook((str,), "cosine", "'cosine' (linear warm-up, then cosine decay to 0 at the budget's end) or "
                        "'constant' (RecBole's: the learning rate throughout)", trainable_only=True),
    "clip_norm": Hook(NUMBER, 1.0, "gradients clipped to this norm before each step (0: not clipped, as RecBole)",
                      trainable_only=True),
    "validate_every": Hook((int,), None, "validate every this many steps (an epoch, as RecBole); None: the cell's "
                           "`validations` passes spread over the budget", trainable_only=True),
    "patience": Hook((int,), None, "stop once this many validations in a row bring no better figure (RecBole's "
                     "early stopping, stopping_step 10); None: train the whole budget", trainable_only=True),
    "tune_space": Hook((dict,), None, "{option: 'log:LOW:HIGH' | 'float:LOW:HIGH' | 'int:LOW:HIGH' | 'choice:A|B'}: "
                       "what `recbench tune` searches when no --space is given (run/tuning.py)", trainable_only=True),
    "validation_queries": Hook((int,), None, "validate on a seeded sample of this many of the kind's validation "
                               "queries (a joint scorer too slow for all of them); None: all", trainable_only=True),
    "default_budget": Hook((object,), None, "the training Budget a cell takes when none is given",
                           trainable_only=True),
    "train_kinds": Hook((tuple, list), None, "the task kinds its training runs on (None: every kind it serves): "
                        "a trained cell of another kind is refused when resolved, before anything loads",
                        trainable_only=True),
    "train_devices": Hook((tuple,), ("cpu",), "the torch device types its training steps run on "
                          "(RECBENCH_TRAIN_DEVICE); ('cpu', 'cuda') where its steps make their tensors with "
                          "torch.as_tensor on the default device", trainable_only=True),
    # optional methods (called when present)
    "option_ranges": Hook((dict,), None, "{option: (low, high[, 'open'|'half-open'])}: ranges of its numeric "
                          "options beyond the conventional ones of their names (options.CONVENTIONAL_RANGES)"),
    "unread_options": Hook((object,), None, "classmethod unread_options(options) -> names it would ignore with "
                           "these options (sif's reference when pc is not 'reference'): refused, since an option "
                           "that changes nothing would still make a row of its own"),
    "trains": Hook((object,), None, "classmethod trains(options) -> bool: whether these options train "
                   "(False: a zero-shot mode of a Trainable model)"),
    "load_weights": Hook((object,), None, "loads the weights now, for a model that loads them on first "
                         "encode: called before timed work a cache did not spare (a fully cached run never "
                         "loads them)"),
    "weights_load_seconds": Hook(NUMBER, 0.0, "seconds a lazily loading model spent loading its weights "
                                 "(added to the record's model_load_seconds)"),
    "score_candidates": Hook((object,), None, "score_candidates(task, query, rows) -> scores of catalog rows "
                             "for one query: how a joint scorer serves as a reranker (--rerank) without scoring "
                             "the whole catalog"),
    "weights_changed": Hook((object,), None, "called when the loop swaps weights in: drop cached item vectors",
                            trainable_only=True),
    "training_state": Hook((object,), None, "state beyond the torch module that a resumed run needs",
                           trainable_only=True),
    "load_training_state": Hook((object,), None, "restores what training_state returned", trainable_only=True),
}
FIRST_STAGES = ("dense", "tokens")


class ModelContractError(TypeError):
    """A model (or model class) that breaks the declared contract."""


def hook(model: Any, name: str) -> Any:
    """The model's value of a declared hook, or the hook's default."""
    if name not in HOOKS:
        raise KeyError(f"{name!r} is not a declared model hook (recbench.protocol.model_contract.HOOKS)")
    value = getattr(model, name, None)
    return HOOKS[name].default if value is None else value


def _check_value(owner: str, name: str, value: Any) -> None:
    spec = HOOKS[name]
    if value is None or isinstance(value, property) or callable(value) and not isinstance(value, type):
        return  # unset, or computed per instance: checked when the model is built
    if (isinstance(value, bool) and bool not in spec.types) or not isinstance(value, spec.types):  # True is no int
        wanted = " or ".join(t.__name__ for t in spec.types)
        raise ModelContractError(f"model {owner!r}: hook {name!r} is {value!r} ({type(value).__name__}); "
                                 f"it must be {wanted} ({spec.why})")
    if name == "first_stage" and value not in FIRST_STAGES:
        raise ModelContractError(f"model {owner!r}: first_stage is {value!r}; choose one of {', '.join(FIRST_STAGES)}")
    if name == "rerank_depth" and value < 1:
        raise ModelContractError(f"model {owner!r}: rerank_depth must be at least 1, not {value}")


def check_model_class(cls: Any, registered_as: str) -> None:
    """At registration: a class-level hook of the wrong type, or a model with no capability the
    harness can use, is refused with the hook's name and what it must be."""
    if not isinstance(cls, type):
        return  # a factory function: checked when it builds a model
    if not any(issubclass(cls, cap) for cap in (Encoder, TokenEncoder, Ranker, ItemScorer)):
        raise ModelContractError(f"model {registered_as!r} ({cls.__module__}.{cls.__qualname__}) has none of the "
                                 "capabilities encode, encode_tokens, score or score_items; the harness cannot "
                                 "evaluate it")
    for name in HOOKS:
        _check_value(registered_as, name, cls.__dict__.get(name, getattr(cls, name, None)))


def check_model(model: Any) -> None:
    """When built: every hook the model sets has the declared type; a Trainable declares its
    learning rate."""
    owner = getattr(model, "name", type(model).__name__)
    for name, spec in HOOKS.items():
        value = getattr(model, name, None)
        if value is not None and not callable(value):
            _check_value(owner, name, value)
    if isinstance(model, Trainable) and hook(model, "learning_rate") is None:
        raise ModelContractError(f"model {owner!r} is Trainable but declares no learning_rate (the peak rate "
                                 "of its optimiser)")
    check_params(owner, getattr(model, "params", {}))


def check_params(owner: str, params: Any) -> None:
    """A model's ``params`` go into its record and its cell's hash: a dict of JSON values (a
    plugin's numpy array or object crashed the grid when the record was written)."""
    import json
    import math

    if not isinstance(params, dict):
        raise ModelContractError(f"model {owner!r}: params must be a dict, not {type(params).__name__}")

    def walk(value: Any, where: str) -> None:
        if value is None or isinstance(value, (bool, int, str)):
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ModelContractError(f"model {owner!r}: params{where} is {value!r}, not a finite number")
            return
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")
            return
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ModelContractError(f"model {owner!r}: params{where} has a key {key!r} that is not a string")
                walk(item, f"{where}[{key!r}]")
            return
        raise ModelContractError(f"model {owner!r}: params{where} is a {type(value).__name__}, which a run record "
                                 "(JSON) cannot hold; give a string, number, bool, list or dict")

    walk(params, "")
    json.dumps(params, allow_nan=False)
