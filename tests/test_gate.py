"""A gate that checks (issue 19): a suite that would check nothing, or whose tolerance passes
anything, is refused with a message naming the field; a malformed suite is an error, not a
traceback. Suites are TOML files validated against recbench/schema/suite.schema.json (issue 36)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from recbench.cli import app
from recbench.run.check import load_check_suite

HEAD = 'name = "t"\n'
CELL = '[[cells]]\nmodel = "random"\ndataset = "lee"\n'


@pytest.mark.parametrize("text, message", [
    # (the messages are jsonschema's; they differ between its versions, the field named in each)
    (HEAD, "the suite: .*(is not valid under any of the given schemas|'cells' is a required property)"),
    (HEAD + 'cells = []\n', r"cells: \[\] (should be non-empty|is too short)"),
    ('cells = 3\n', "'name' is a required property"),
    (HEAD + CELL, r"cells\[0\] has no expected values"),
    (HEAD + CELL + "[cells.expected.pearson]\nvalue = 0.0\ntolerance = inf\n",
     r"cells\[0\].expected.pearson.tolerance must be a finite number"),
    (HEAD + CELL + "[cells.expected.pearson]\nvalue = 0.0\ntolerance = -1\n", r"tolerance: -1 is less than the minimum"),
    (HEAD + CELL + "[cells.expected.pearson]\ntolerance = 1\n", r"'value' is a required property"),
    (HEAD + CELL + "expected = { pearson = 0.5 }\n", r"cells\[0\].expected.pearson: 0.5 is not of type 'object'"),
    (HEAD + CELL.replace("model", "modle") + "expected = { pearson = { value = 0, tolerance = 1 } }\n",
     r"cells\[0\]: 'model' is a required property"),
    (HEAD + CELL + 'options = "k=3"\nexpected = { pearson = { value = 0, tolerance = 1 } }\n',
     r"cells\[0\].options: 'k=3' is not of type 'object'"),
    (HEAD + CELL + 'settings = { n_bootstrap = "many" }\nexpected = { pearson = { value = 0, tolerance = 1 } }\n',
     r"cells\[0\].settings.n_bootstrap must be a int"),
    (HEAD + CELL + 'settings = { bootstraps = 5 }\nexpected = { pearson = { value = 0, tolerance = 1 } }\n',
     r"unknown setting 'bootstraps'"),
    (HEAD + '[[matrix]]\nmodels = ["random"]\ndatasets = ["lee"]\n', r"lists its cells explicitly"),
    ('name = "t"\ncells = [ \n', "cannot read the suite"),
])
def test_a_suite_that_checks_nothing_or_anything_is_refused_naming_the_field(tmp_path, text, message):
    path = tmp_path / "suite.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_check_suite(path)
    result = CliRunner().invoke(app, ["check", "--suite", str(path)])
    assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output


def test_the_committed_suite_is_valid():
    suite = load_check_suite("suites/smoke.toml")
    assert suite.cells and all(suite.expected)
    assert {"nrms"} <= {c.model for c in suite.cells if c.training}
