"""Model and dataset options typed by their factory's signature, so that one value means one
thing: ``-o normalize=no`` is False (not the truth of a non-empty string), ``-o lr=abc`` is an
error naming the option and what it accepts, and ``-o temperature=1`` keys the same cell as
``temperature=1.0``.

The type of an option is its parameter's annotation (``bool``, ``int``, ``float``, ``str``,
optionally ``| None``), else the type of its default. Options of a factory that takes
``**kwargs``, or whose type cannot be told, pass through as the command line parsed them.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
KNOWN = {"bool": bool, "int": int, "float": float, "str": str}


class OptionError(ValueError):
    """An option value its model or dataset cannot take."""


def declared_type(parameter: inspect.Parameter) -> tuple[type | None, bool]:
    """(the option's type or None when unknown, whether None is allowed)."""
    annotation = parameter.annotation
    if isinstance(annotation, str):
        parts = [p.strip() for p in annotation.replace("Optional[", "").rstrip("]").split("|")]
        optional = "None" in parts or annotation.startswith("Optional[")
        types = [KNOWN[p] for p in parts if p in KNOWN]
        if len(types) == 1:
            return types[0], optional or parameter.default is None
    elif annotation in KNOWN.values():
        return annotation, parameter.default is None
    default = parameter.default
    if default is inspect.Parameter.empty or default is None:
        return None, True
    return (type(default) if type(default) in KNOWN.values() else None), False


def coerce(value: Any, kind: type, option: str, owner: str) -> Any:
    """``value`` as ``kind``, or an OptionError naming ``option`` of ``owner``."""
    text = str(value).strip().lower()
    if kind is bool:
        if isinstance(value, bool):
            return value
        if text in TRUE or text in FALSE:
            return text in TRUE
        raise OptionError(f"option {option!r} of {owner} takes true or false (yes/no, on/off, 1/0), not {value!r}")
    if kind is int:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not math.isfinite(number) or number != int(number):
            raise OptionError(f"option {option!r} of {owner} takes a whole number, not {value!r}")
        return int(number)
    if kind is float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not math.isfinite(number):
            raise OptionError(f"option {option!r} of {owner} takes a finite number, not {value!r}")
        return number
    return str(value)


# What an option of these names means wherever it appears, so its range is known without each
# model restating it (a model's ``option_ranges`` hook adds or overrides): a count of layers,
# heads, tokens or items is at least one, a seed or a number of frozen layers at least zero, a
# rate a fraction. hidden=0, layers=-1, heads=0, batch=0, max_length=0 surfaced as raw errors
# deep in torch or trained a chance model; seed=-1 as numpy's error.
COUNT, NONNEGATIVE, POSITIVE, FRACTION, PROBABILITY = (1, None), (0, None), (0, None, "open"), (0, 1, "half-open"), (0, 1)
CONVENTIONAL_RANGES: dict[str, tuple] = {
    **{n: COUNT for n in ("hidden", "layers", "heads", "head_dim", "inner", "embedding", "d_model", "d_ff", "batch",
                          "max_length", "max_seq_length", "item_length", "title_length", "attr_length", "max_items",
                          "history", "candidates", "negatives", "beam", "experts", "levels", "codes", "branching",
                          "query_maxlen", "doc_maxlen", "train_doc_maxlen", "stage1_steps", "refresh_every",
                          "bucket", "k", "dim", "validation_queries", "window", "max_history")},
    **{n: NONNEGATIVE for n in ("seed", "indexing_seed", "split_seed", "lora", "frozen_layers", "mlm_weight",
                                "redundancy", "uniformity")},
    **{n: POSITIVE for n in ("lr", "temperature", "a")},
    **{n: FRACTION for n in ("dropout", "id_dropout", "mask_ratio", "mask_fraction")},
    **{n: PROBABILITY for n in ("mix_weight", "redundancy_threshold")},
}


def check_range(name: str, value: Any, bounds: tuple, owner: str) -> None:
    """An OptionError naming the option, its value and its range when ``value`` lies outside.
    ``bounds``: (low, high) inclusive (None: unbounded), with "open" (above low) or
    "half-open" ([low, high)) as a third item."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    low, high, *rest = bounds
    how = rest[0] if rest else "closed"
    if how == "open":
        ok, span = value > low, f"above {low}"
    elif how == "half-open":
        ok, span = low <= value < high, f"in [{low}, {high})"
    elif high is None:
        ok, span = value >= low, f"at least {low}"
    else:
        ok, span = low <= value <= high, f"in [{low}, {high}]"
    if not ok:
        raise OptionError(f"option {name!r} of {owner} must be {span}, not {value!r}")


def typed_options(factory: Any, options: dict[str, Any], owner: str) -> dict[str, Any]:
    """Each option coerced to its declared type (None where the option allows it) and held to its
    range (the conventional one of its name, or the factory's ``option_ranges``)."""
    parameters = inspect.signature(factory).parameters
    out = {}
    for name, value in options.items():
        parameter = parameters.get(name)
        if parameter is None:
            out[name] = value
            continue
        kind, optional = declared_type(parameter)
        if value is None or (optional and str(value).strip().lower() == "none"):
            if not optional:
                raise OptionError(f"option {name!r} of {owner} needs a value")
            out[name] = None
        else:
            out[name] = value if kind is None else coerce(value, kind, name, owner)
            if kind in (int, float):
                bounds = {**CONVENTIONAL_RANGES, **(getattr(factory, "option_ranges", None) or {})}.get(name)
                if bounds is not None:
                    check_range(name, out[name], bounds, owner)
    return out


def truthy(value: Any) -> bool:
    """An option's boolean value, from the command line's text or Python."""
    return value.strip().lower() in ("1", "true", "yes", "on") if isinstance(value, str) else bool(value)


def format_label(spec: str, options: dict[str, Any] | None = None, variant: dict[str, Any] | None = None) -> str:
    """A row's name: the spec, its own options in ``[...]`` and the protocol's variant in
    ``{...}`` (``sif[pc=reference]``, ``sif{k=3,pooling=topk}``). Two namespaces, so a model
    option never hides a protocol setting of the same name."""
    def part(d: dict[str, Any] | None, open_: str, close: str) -> str:
        return f"{open_}{','.join(f'{k}={v}' for k, v in sorted(d.items()))}{close}" if d else ""

    return spec + part(options, "[", "]") + part(variant, "{", "}")
