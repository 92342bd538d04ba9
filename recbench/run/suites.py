"""Suite files: a named set of cells as data (``suites/NAME.toml``), run by
``recbench run --suite suites/NAME.toml`` and gated by ``recbench check`` (a suite whose cells
carry expected values). A suite lists cells explicitly (``[[cells]]``) and/or as grids
(``[[matrix]]``: models x datasets x seeds x rerank depths); ``[defaults]`` go under every one of
them. The file is validated against ``recbench/schema/suite.schema.json`` (every message names
the field), then each cell as a :class:`CellSpec`; each record a suite writes carries the suite's
name and the sha256 of its file, so a board says which suite built it.

    name = "cold-items"
    description = "Issue 23's cold-item tables"
    [defaults]
    dataset_options = { cold = 0.2 }
    [[matrix]]
    models = ["sasrec", "unisrec"]
    datasets = ["amazon-scientific"]
    seeds = [0, 1, 2]
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from recbench.protocol.options import format_label
from recbench.results.cell_spec import CellSpec, CellSpecError, Matrix

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "suite.schema.json"
SUITES_DIR = Path("suites")


class SuiteError(ValueError):
    """A suite file that cannot be read or says something wrong; the message names file and field."""


@dataclass(frozen=True)
class Expected:
    value: float
    tolerance: float


@dataclass
class Suite:
    name: str
    description: str
    path: Path
    sha256: str
    cells: list[CellSpec]
    # per cell (same order): the gated metrics of a check suite, else {}
    expected: list[dict[str, Expected]] = field(default_factory=list)
    matrices: list[Matrix] = field(default_factory=list)

    def specs(self) -> list[CellSpec]:
        """Every cell of the suite: the explicit ones, then each matrix's."""
        return [*self.cells, *(spec for m in self.matrices for spec in m.specs())]

    @property
    def identity(self) -> dict[str, str]:
        """What each record the suite writes keeps of it."""
        return {"name": self.name, "sha256": self.sha256}


def cell_name(spec: CellSpec) -> str:
    """``model[options] x dataset[options] (split)``, as the leaderboard labels a cell."""
    name = f"{format_label(spec.model, dict(spec.options))} x {format_label(spec.dataset, dict(spec.dataset_options))}"
    return name + (f" ({spec.split})" if spec.split else "")


def _schema_errors(data: Any, path: Path) -> None:
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    first = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if first is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path).lstrip(".")
        raise SuiteError(f"{path}: {where or 'the suite'}: {first.message}")


def _merged(defaults: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """A cell or matrix over the suite's defaults; tables (options, settings, training) merge key by key."""
    out = dict(defaults)
    for key, value in entry.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def load_suite(path: Path | str) -> Suite:
    """Reads and validates a suite file; a name alone (``smoke``) is looked up in ``suites/``."""
    path = Path(path)
    if not path.suffix and not path.exists() and (SUITES_DIR / f"{path}.toml").is_file():
        path = SUITES_DIR / f"{path}.toml"
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read the suite: {exc}") from None
    _schema_errors(data, path)
    defaults = data.get("defaults") or {}
    cells, expected, matrices = [], [], []
    try:
        for i, entry in enumerate(data.get("cells") or []):
            where = f"{path}: cells[{i}]"
            gated = entry.get("expected") or {}
            for metric, spec in gated.items():
                for key in ("value", "tolerance"):
                    if not math.isfinite(spec[key]):
                        raise SuiteError(f"{where}.expected.{metric}.{key} must be a finite number, not {spec[key]!r}")
            cells.append(CellSpec.from_dict(_merged(defaults, {k: v for k, v in entry.items() if k != "expected"}), where))
            expected.append({m: Expected(float(s["value"]), float(s["tolerance"])) for m, s in gated.items()})
        for i, entry in enumerate(data.get("matrix") or []):
            matrices.append(Matrix.from_dict(_merged(defaults, entry), f"{path}: matrix[{i}]"))
    except CellSpecError as exc:
        raise SuiteError(str(exc)) from None
    return Suite(name=data["name"], description=data.get("description", ""), path=path,
                 sha256=hashlib.sha256(raw).hexdigest(), cells=cells, expected=expected, matrices=matrices)


def check_gate(suite: Suite) -> None:
    """A gate that checks nothing is refused: a check suite is explicit cells, each with expected values."""
    if suite.matrices or not suite.cells:
        raise SuiteError(f"{suite.path}: a check suite lists its cells explicitly ([[cells]]), at least one")
    for i, gated in enumerate(suite.expected):
        if not gated:
            raise SuiteError(f"{suite.path}: cells[{i}] has no expected values: it would be run and nothing checked")


def write_expected(suite: Suite, measured: dict[tuple[int, str], float]) -> None:
    """``recbench check --update``: the measured values become the expected ones (tolerances kept),
    written atomically; the file is rewritten from its data (comments are not kept)."""
    import tomli_w

    from recbench.protocol.cache import write_text_atomically

    data = tomllib.loads(suite.path.read_text(encoding="utf-8"))
    for (index, metric), value in measured.items():
        data["cells"][index]["expected"][metric]["value"] = round(float(value), 6)
    write_text_atomically(suite.path, tomli_w.dumps(data))
