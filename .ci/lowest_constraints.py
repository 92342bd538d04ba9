"""Prints a pip constraints file that pins every requirement of pyproject.toml (the core, and
the extras named on the command line) to its lower bound: what `.ci/run` installs into a second
fresh environment, so that each declared lower bound is one CI has tested (issue 33).

torch is pinned to the CPU wheel on disk instead (2.13.0): the guide keeps its floor at 2.2,
but a PyPI torch is a multi-GB CUDA build, so torch's is the one floor CI cannot test (and
pinning it stops pip from backtracking into CUDA builds when a pin conflicts)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ON_DISK = {"torch": "2.13.0"}  # the wheel .ci/run installs first


def lowest_pins(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins = []
    for requirement in requirements:
        m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(\[[^]]*\])?\s*([^;#]*)", requirement)
        assert m, requirement
        name, spec = m.group(1), m.group(3)
        low = re.search(r">=\s*([0-9][^,\s]*)", spec)
        if low is None:
            raise SystemExit(f"pyproject.toml: {requirement!r} has no lower bound (>=); every dependency needs one")
        if not re.search(r"<\s*[0-9]", spec):
            raise SystemExit(f"pyproject.toml: {requirement!r} has no upper bound (<); give one no higher than its next major")
        pins.append(f"{name}=={ON_DISK.get(name.lower(), low.group(1))}")
    return pins


if __name__ == "__main__":
    print("\n".join(lowest_pins(Path(__file__).resolve().parent.parent / "pyproject.toml", sys.argv[1:])))
