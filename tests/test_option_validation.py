"""Every option is validated with its range, and an option the model would not read is refused
(issue 34): hidden=0, layers=-1, heads=0, batch=0, max_length=0, seed=-1 surfaced as raw errors
or trained a chance model; `-o reference=` with pc=self and trained ColBERT's options on the
untrained model made rows of their own that change nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from recbench.run.cells import Cell, CellError
from recbench.protocol.options import CONVENTIONAL_RANGES, OptionError, check_range, typed_options


@pytest.mark.parametrize("model,option,value,why", [
    ("sasrec", "hidden", "0", "must be at least 1"), ("sasrec", "layers", "-1", "must be at least 1"),
    ("sasrec", "heads", "0", "must be at least 1"), ("sasrec", "batch", "0", "must be at least 1"),
    ("sasrec", "max_length", "0", "must be at least 1"), ("random", "seed", "-1", "must be at least 0"),
    ("sasrec", "dropout", "1", r"must be in \[0, 1\)"), ("sasrec", "lr", "0", "must be above 0"),
    ("sbert", "max_seq_length", "0", "must be at least 1"), ("biencoder", "mix_weight", "1.5", r"must be in \[0, 1\]"),
])
def test_an_option_outside_its_range_is_refused_naming_it(model, option, value, why):
    dataset = "ml100k" if model in ("sasrec", "random") else "ml100k-mix" if model == "biencoder" else "lee"
    with pytest.raises(CellError, match=f"option '{option}' of model '{model}' {why}, not"):
        Cell.resolve(model, dataset, options={option: value})


@pytest.mark.parametrize("model,options,unread", [
    ("sif", {"reference": "corpus.txt"}, "reference"), ("sif", {"pc": "none", "reference": "c.txt"}, "reference"),
    ("colbert-minilm", {"lora": "8"}, "lora"), ("colbert-minilm", {"lr": "1e-4", "batch": "8"}, "batch', 'lr"),
    ("recformer", {"zero_shot": "true", "lr": "1e-4"}, "lr"),
])
def test_an_option_the_model_would_not_read_is_refused(model, options, unread):
    dataset = "lee" if model == "sif" else "ml100k"
    with pytest.raises(CellError, match=f"does not read '{unread}'"):
        Cell.resolve(model, dataset, options=options)


@pytest.mark.parametrize("model,options", [
    ("sif", {"pc": "reference", "reference": "corpus.txt"}), ("colbert-minilm", {"train": "true", "lora": "8"}),
    ("recformer", {"lr": "1e-4"}), ("sasrec", {"dropout": "0", "hidden": "8"}), ("random", {"seed": "0"}),
])
def test_options_the_model_reads_within_their_range_are_taken(model, options):
    Cell.resolve(model, "lee" if model == "sif" else "ml100k", options=options)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(CONVENTIONAL_RANGES)), value=st.floats(allow_nan=False, allow_infinity=False))
def test_a_value_is_refused_exactly_when_it_leaves_its_range(name, value):
    low, high, *how = CONVENTIONAL_RANGES[name]
    how = how[0] if how else "closed"
    inside = (value > low if how == "open" else value >= low) and (
        high is None or (value < high if how == "half-open" else value <= high))
    try:
        check_range(name, value, CONVENTIONAL_RANGES[name], "model 'm'")
        refused = False
    except OptionError:
        refused = True
    assert refused is not inside


def test_a_factorys_own_range_overrides_the_convention():
    class Model:
        option_ranges = {"layers": (2, 12)}

        def __init__(self, layers: int = 2) -> None: ...

    with pytest.raises(OptionError, match=r"'layers' of m must be in \[2, 12\], not 1"):
        typed_options(Model, {"layers": "1"}, "m")
    assert typed_options(Model, {"layers": "12"}, "m") == {"layers": 12}
