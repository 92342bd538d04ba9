"""`recbench doctor`: what this installation is, against what the project tests and what the
committed board was made with. A new user's first question after a failure is "is it my
versions?"; this answers it in one command (issue 33).

- every requirement of the installed recbench (core and extras) against its declared range,
  and against ``constraints.txt`` (the exact versions the committed board was made with);
- which datasets' files the look-up finds;
- whether Chromium and Playwright are there for the site's browser tests;
- for each record named, the versions it was made with that differ from these.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, metadata, requires, version
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

CONSTRAINTS_FILE = "constraints.txt"


@dataclass
class PackageCheck:
    name: str
    extra: str | None  # None: a core requirement
    declared: str  # the range, e.g. ">=5.0,<6"
    installed: str | None
    pinned: str | None  # the constraints file's version, where it pins one

    @property
    def in_range(self) -> bool:
        if self.installed is None:
            return False
        try:
            return Requirement(f"{self.name}{self.declared}").specifier.contains(Version(self.installed), prereleases=True)
        except (InvalidRequirement, InvalidVersion):
            return False

    @property
    def status(self) -> str:
        if self.installed is None:
            return "MISSING" if self.extra is None else f"not installed (extra [{self.extra}])"
        return "ok" if self.in_range else "OUT OF RANGE"

    @property
    def matches_board(self) -> bool | None:
        if self.pinned is None or self.installed is None:
            return None
        try:
            return Version(self.installed).public == Version(self.pinned).public  # 2.13.0+cpu is 2.13.0
        except InvalidVersion:
            return self.installed == self.pinned

    @property
    def blocking(self) -> bool:
        """A core requirement missing or outside its range: recbench may fail here."""
        return self.extra is None and not self.in_range


def extra_of(requirement: Requirement) -> str | None:
    """The extra a requirement belongs to (``extra == "test"`` in its marker), None for a core one."""
    m = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", str(requirement.marker or ""))
    return m.group(1) if m else None


def read_constraints(path: Path | None) -> dict[str, str]:
    """``name==version`` lines of a pip constraints file, by canonical name (comments skipped)."""
    if path is None or not path.is_file():
        return {}
    pins = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, _, pinned = line.partition("==")
            pins[canonicalize_name(name.strip())] = pinned.strip()
    return pins


def find_constraints() -> Path | None:
    """The project's constraints file: at the root of a source checkout (an editable install)."""
    candidate = Path(__file__).resolve().parent.parent.parent / CONSTRAINTS_FILE
    return candidate if candidate.is_file() else None


def package_checks(constraints: dict[str, str]) -> list[PackageCheck]:
    """Every requirement recbench declares, with what is installed and what the board pins."""
    checks: dict[tuple[str, str | None], PackageCheck] = {}
    for text in requires("recbench") or []:
        req = Requirement(text)
        if req.marker is not None and extra_of(req) is None and not req.marker.evaluate({"extra": ""}):
            continue  # a requirement for another platform
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            installed = None
        extra = extra_of(req)
        checks[(canonicalize_name(req.name), extra)] = PackageCheck(
            req.name, extra, ",".join(sorted(map(str, req.specifier), key=lambda x: not x.startswith(">"))), installed, constraints.get(canonicalize_name(req.name)))
    return sorted(checks.values(), key=lambda c: (c.extra or "", canonicalize_name(c.name)))


def requires_python() -> str | None:
    try:
        return metadata("recbench").get("Requires-Python")
    except PackageNotFoundError:
        return None


def browser_status() -> tuple[str | None, bool]:
    """(the Chromium executable found on PATH or None, whether Playwright's package imports)."""
    chromium = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)
    from importlib.util import find_spec

    has_playwright = find_spec("playwright") is not None
    return chromium, has_playwright


def data_status(locator: Any) -> list[tuple[str, str, bool | None]]:
    """(dataset, kind, found) for every registered dataset; None for one read from a path you give."""
    from recbench.protocol.registry import datasets

    out = []
    for entry in datasets:
        cls = entry.load()
        ds = cls(name=entry.name, locator=locator)
        sources = ds.sources()
        out.append((entry.name, cls.kind, None if not sources else all(ds.present())))
    return out


def python_ok() -> bool:
    spec = requires_python()
    if not spec:
        return True
    return Requirement(f"python{spec}").specifier.contains(".".join(map(str, sys.version_info[:3])))


def environment_lines() -> list[str]:
    return [f"python {sys.version.split()[0]} (recbench requires {requires_python() or 'any'})",
            f"RECBENCH_DATA={os.environ.get('RECBENCH_DATA', '(unset)')}",
            f"HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '(unset)')}"]
