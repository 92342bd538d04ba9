"""Property-based tests of the command line's parsers (issue 19's fuzz suite): any text gives
a value of the right type or the parser's own clear error, never another exception, and what a
parser writes it reads back."""

from __future__ import annotations

import typer
from hypothesis import given, settings, strategies as st

from recbench.run.cells import CellError, parse_train_seeds
from recbench.protocol.options import OptionError, coerce
from recbench.run.training import Budget
from recbench.cli.app import parse_options, split_specs

FUZZ = settings(max_examples=300, deadline=None)


@FUZZ
@given(st.text())
def test_any_budget_text_parses_or_says_why(text):
    try:
        budget = Budget.parse(text)
    except ValueError as exc:
        assert "--train-budget" in str(exc)
        return
    assert budget.steps is not None or budget.minutes is not None
    assert Budget.parse(budget.describe()) == budget


@FUZZ
@given(st.integers(1, 10**6), st.one_of(st.none(), st.floats(0.01, 1000)))
def test_a_budget_reads_back_what_it_writes(steps, minutes):
    budget = Budget(steps=steps, minutes=round(minutes, 3) if minutes else None)
    assert Budget.parse(budget.describe()) == budget


@FUZZ
@given(st.text())
def test_any_seed_list_parses_to_distinct_seeds_or_says_why(text):
    try:
        seeds = parse_train_seeds(text)
    except CellError as exc:
        assert "--train-seeds" in str(exc)
        return
    assert seeds and len(set(seeds)) == len(seeds) and min(seeds) >= 0


@FUZZ
@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=True), st.booleans()),
       st.sampled_from([bool, int, float, str]))
def test_an_option_value_coerces_to_its_type_or_names_the_option(value, kind):
    try:
        out = coerce(value, kind, "opt", "model 'm'")
    except OptionError as exc:
        assert "option 'opt' of model 'm'" in str(exc)
        return
    assert type(out) is kind


NAME = st.from_regex(r"[a-z][a-z0-9_-]{0,10}(:[a-z0-9/._-]{1,10})?", fullmatch=True)


@FUZZ
@given(st.lists(NAME, min_size=1, max_size=5))
def test_specs_split_back_into_what_was_joined(names):
    assert split_specs([",".join(names)]) == names
    assert split_specs(names) == names


@FUZZ
@given(st.text())
def test_any_option_text_parses_or_is_a_usage_error(text):
    try:
        options = parse_options([text])
    except typer.BadParameter:
        return
    assert len(options) == 1
