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


def typed_options(factory: Any, options: dict[str, Any], owner: str) -> dict[str, Any]:
    """Each option coerced to its declared type (None where the option allows it)."""
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
    return out
