"""One generic registry for baselines and datasets.

Entries come from three places, in this order of precedence:

1. ``@registry.register("name")`` in the module that defines the thing;
2. the modules of ``recbench.baselines`` / ``recbench.datasets``, imported on first look-up;
3. third-party plugins, found through the entry-point group of the registry
   (``recbench.baselines`` / ``recbench.datasets``), loaded on first look-up.

A name may carry an argument after a colon (``sbert:/path/to/model``, ``pairs:my.csv``): the
part before the colon selects the entry, the rest is passed to its factory as ``arg``. The
registry can say where each entry came from, and an unknown name gets "did you mean ...?".
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name no registry entry matches; the message suggests close names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


@dataclass
class Entry(Generic[T]):
    """A registered factory and what is known about it without importing it."""

    name: str
    factory: T | None = None
    target: str | None = None  # "module:object", imported on first use
    source: str = "built-in"  # "built-in" or "plugin <distribution>"
    meta: dict[str, Any] = field(default_factory=dict)
    check: Callable[[Any, str], None] | None = None  # the registry's contract, applied on load

    def load(self) -> T:
        if self.factory is None:
            assert self.target is not None
            module_name, _, attr = self.target.partition(":")
            try:
                obj: Any = importlib.import_module(module_name)
                for part in attr.split(".") if attr else ():
                    obj = getattr(obj, part)
            except Exception as exc:
                raise RuntimeError(f"{self.name!r} ({self.source}, {self.target}) failed to load: {exc}") from exc
            if self.check is not None:
                try:
                    self.check(obj, self.name)
                except (TypeError, ValueError) as exc:
                    raise RuntimeError(f"{self.name!r} ({self.source}, {self.target}) breaks the contract: {exc}") from exc
            self.factory = obj
        return self.factory


class Registry(Generic[T]):
    """A typed name -> factory map with lazy built-ins and entry-point plugins."""

    def __init__(self, kind: str, group: str, builtin_package: str | None = None,
                 check: Callable[[Any, str], None] | None = None) -> None:
        self.kind = kind
        self._check = check  # (entry, name) -> None or raises: run on registration and plugin load
        self.group = group
        self._builtin_package = builtin_package
        self._entries: dict[str, Entry[T]] = {}
        self._loaded_builtins = False
        self._loaded_plugins = False

    # -- registration -------------------------------------------------------------------
    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator: ``@baselines.register("sif", kinds=("pairs",))``."""

        def decorate(obj: T) -> T:
            self.add(name, obj, **meta)
            return obj

        return decorate

    def add(self, name: str, obj: T, source: str = "built-in", **meta: Any) -> None:
        if ":" in name:
            raise ValueError(f"{self.kind} name {name!r} must not contain ':' (it separates the argument)")
        existing = self._entries.get(name)
        if existing is not None and existing.factory is not None and existing.factory is not obj:
            raise ValueError(
                f"{self.kind} {name!r} is registered twice ({existing.source} and {source})"
            )
        if self._check is not None:
            self._check(obj, name)
        self._entries[name] = Entry(name=name, factory=obj, source=source, meta=dict(meta))

    def remove(self, name: str) -> None:
        """Drops an entry (a test's temporary plugin; nothing in production removes one)."""
        self._entries.pop(name, None)

    # -- discovery ----------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if not self._loaded_builtins:
            self._loaded_builtins = True
            if self._builtin_package:
                # Every module of the package registers itself on import: one file per entry,
                # and the core never names a model or dataset.
                # Baselines sit in family folders (``baselines/encoders/sbert.py``): the walk goes
                # into sub-packages; a name starting with "_" is a private helper, not an entry.
                package = importlib.import_module(self._builtin_package)
                for info in pkgutil.walk_packages(package.__path__, prefix=f"{self._builtin_package}."):
                    if not any(part.startswith("_") for part in info.name.split(".")):
                        importlib.import_module(info.name)
        if not self._loaded_plugins:
            self._loaded_plugins = True
            for ep in entry_points(group=self.group):
                if ep.name in self._entries:
                    continue  # a built-in wins: a plugin cannot shadow it silently
                dist = getattr(ep, "dist", None)
                label = f"plugin {dist.name}" if dist is not None else "plugin"
                # Loaded on first use, so one broken plugin cannot break `recbench list`.
                self._entries[ep.name] = Entry(name=ep.name, target=ep.value, source=label, check=self._check)

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry[T]]:
        self._ensure_loaded()
        return iter([self._entries[n] for n in sorted(self._entries)])

    def __contains__(self, spec: str) -> bool:
        self._ensure_loaded()
        return split_spec(spec)[0] in self._entries

    def entry(self, spec: str) -> Entry[T]:
        """The entry for ``name`` or ``name:arg``; unknown names get suggestions."""
        self._ensure_loaded()
        name, _ = split_spec(spec)
        if name not in self._entries:
            close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries))}."
            )
        return self._entries[name]

    def get(self, spec: str) -> T:
        return self.entry(spec).load()


def build_model(spec: str) -> Any:
    """An untrained model from its spec (``name`` or ``name:arg``): a reranker, a fused model."""
    name, arg = split_spec(spec)
    return baselines.get(name)(arg) if arg is not None else baselines.get(name)()


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"sbert:/models/x"`` -> ``("sbert", "/models/x")``; ``"sif"`` -> ``("sif", None)``."""
    name, sep, arg = spec.partition(":")
    return name.strip(), (arg if sep else None)


def _check_model(obj: Any, name: str) -> None:
    from recbench.protocol.model_contract import check_model_class

    check_model_class(obj, name)


baselines: Registry[Any] = Registry("model", "recbench.baselines", "recbench.baselines", check=_check_model)
datasets: Registry[Any] = Registry("dataset", "recbench.datasets", "recbench.datasets")
