"""Imports deferred to first use: discovering a model (``recbench list``, looking up ``sif``)
must not import torch (1.5 s here) for models that never run. A trained baseline's module names
torch and its networks through these; the first attribute access or call imports them."""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """A module imported on first attribute access (``torch = LazyModule("torch")``)."""

    def __init__(self, name: str) -> None:
        self.__dict__["_name"] = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.__dict__["_name"]), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_name']}>"


class LazyName:
    """A class or function of a module, imported on first call or attribute access."""

    def __init__(self, module: str, name: str) -> None:
        self.__dict__.update(_module=module, _attr=name)

    def resolve(self) -> Any:
        return getattr(importlib.import_module(self.__dict__["_module"]), self.__dict__["_attr"])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.resolve(), attr)


def lazy_names(module: str, *names: str) -> tuple[Any, ...]:
    """``A, f = lazy_names("pkg.mod", "A", "f")``: stand-ins imported when first used."""
    return tuple(LazyName(module, n) for n in names)
