"""`recbench doctor` (issue 33): installed versions against the declared, tested ranges and the
board's constraints file; a record's versions that differ; and the ranges themselves (every
dependency has a tested floor and a cap no higher than its next major)."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recbench.run.doctor import PackageCheck, package_checks, read_constraints
from recbench.cli.app import app

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / ".ci"))
from lowest_constraints import lowest_pins  # noqa: E402


def test_a_package_is_judged_against_its_range_and_the_board_pin() -> None:
    assert PackageCheck("numpy", None, ">=1.26,<3", "2.4.6", "2.4.6").status == "ok"
    assert PackageCheck("numpy", None, ">=1.26,<3", "3.0.0", "2.4.6").status == "OUT OF RANGE"
    assert PackageCheck("numpy", None, ">=1.26,<3", "3.0.0", None).blocking
    assert PackageCheck("numpy", None, ">=1.26,<3", None, None).status == "MISSING"
    optional = PackageCheck("ray", "ray", ">=2.9,<3", None, None)
    assert optional.status == "not installed (extra [ray])" and not optional.blocking
    assert PackageCheck("torch", None, ">=2.2,<3", "2.13.0+cpu", "2.13.0").matches_board  # a local label is the same release
    assert PackageCheck("transformers", None, ">=5.0,<6", "5.25.0", "5.24.0").matches_board is False


def test_the_constraints_file_is_read_by_canonical_name(tmp_path) -> None:
    f = tmp_path / "c.txt"
    f.write_text("# a comment\nSentence_Transformers==6.2.0  # recorded\n\ntorch==2.13.0\n")
    assert read_constraints(f) == {"sentence-transformers": "6.2.0", "torch": "2.13.0"}
    assert read_constraints(tmp_path / "missing.txt") == {}


def test_every_installed_core_requirement_is_checked_with_its_board_pin() -> None:
    checks = {c.name.lower(): c for c in package_checks({"numpy": "0.0.1"})}
    assert checks["numpy"].installed == version("numpy") and checks["numpy"].extra is None
    assert checks["numpy"].matches_board is False
    assert checks["pytest"].extra == "test"


def test_doctor_prints_the_table_data_browser_and_a_records_drift(tmp_path, monkeypatch) -> None:
    from minimal_record import minimal_record

    record = tmp_path / "r.json"
    record.write_text(json.dumps({**minimal_record(), "environment": {"python": "3.0.1", "packages": {"numpy": "0.0.1"}}}))
    pins = tmp_path / "constraints.txt"
    pins.write_text("numpy==0.0.1\n")
    result = CliRunner().invoke(app, ["doctor", str(record), "--constraints", str(pins)])
    out = result.output
    assert result.exit_code == 0, out
    assert re.search(r"\| numpy +\| " + re.escape(version("numpy")) + r" +\| [^|]*<3 +\| ok +\| 0\.0\.1 +\| differs", out), out
    assert "datasets found" in out and "browser tests: chromium" in out
    assert "python 3.0.1 (now" in out and "numpy 0.0.1 (now" in out
    assert CliRunner().invoke(app, ["doctor", "--constraints", str(tmp_path / "nope.txt")]).exit_code == 2


def test_doctor_fails_when_a_core_dependency_is_outside_its_range(monkeypatch) -> None:
    import recbench.run.doctor as dr

    real = dr.package_checks
    monkeypatch.setattr(dr, "package_checks", lambda pins: [PackageCheck("numpy", None, ">=99", "2.0", None), *real(pins)])
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1 and "numpy 2.0 (wants >=99)" in result.output


def test_every_dependency_has_a_floor_and_a_cap_no_higher_than_its_next_major() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    for requirement in requirements:
        low = re.search(r">=\s*([0-9]+)", requirement)
        cap = re.search(r"<\s*([0-9]+)(?:\.([0-9]+))?", requirement)
        assert low and cap, f"{requirement}: needs a tested floor (>=) and a cap (<)"
        major = int(low.group(1))
        # the cap lies at most one major past the newest release we test, so also past the floor's
        assert int(cap.group(1)) >= major, requirement
    pins = lowest_pins(REPO / "pyproject.toml", ["test", "small", "ray"])
    assert "torch==2.13.0" in pins  # the wheel on disk, not the untestable floor 2.2
    assert any(p.startswith("transformers==5.") for p in pins)


def test_the_constraints_file_pins_what_the_records_say_they_were_made_with() -> None:
    pins = read_constraints(REPO / "constraints.txt")
    seen: dict[str, set[str]] = {}
    for path in (REPO / "results").glob("*.json"):
        try:
            packages = json.loads(path.read_text())["environment"]["packages"]
        except (ValueError, KeyError, TypeError):
            continue
        for name in ("numpy", "torch", "sentence-transformers", "faiss-cpu", "gensim"):
            if packages.get(name):
                seen.setdefault(name, set()).add(packages[name].split("+")[0])
    if not seen:
        pytest.skip("no committed record states its packages")
    for name, versions in seen.items():
        assert pins.get(name) in versions, (name, pins.get(name), versions)
