"""A gate that checks (issue 19): a suite that would check nothing, or whose tolerance passes
anything, is refused with a message naming the field; a malformed suite is an error, not a
traceback."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from recbench.run.check import load_suite
from recbench.cli.app import app

CELL = {"model": "random", "dataset": "lee", "metrics": {"pearson": {"expected": 0.0, "tolerance": 5.0}}}


@pytest.mark.parametrize("suite, message", [
    ({"cells": []}, "'cells' is missing or empty"),
    ({}, "'cells' is missing or empty"),
    ([CELL], "a JSON object"),
    ({"cells": [{**CELL, "metrics": {}}]}, r"cells\[0\].metrics is empty"),
    ({"cells": [{**CELL, "metrics": {"pearson": {"expected": 0.0, "tolerance": float("inf")}}}]},
     r"cells\[0\].metrics.pearson.tolerance must be a finite number"),
    ({"cells": [{**CELL, "metrics": {"pearson": {"expected": 0.0, "tolerance": -1}}}]}, "must not be negative"),
    ({"cells": [{**CELL, "metrics": {"pearson": {"tolerance": 1}}}]}, r"pearson.expected must be a finite number"),
    ({"cells": [{**CELL, "metrics": {"pearson": 0.5}}]}, "must be an object"),
    ({"cells": [{**CELL, "modle": "x"}]}, r"cells\[0\]: unknown field 'modle'"),
    ({"cells": [{**CELL, "options": "k=3"}]}, r"cells\[0\].options must be a dict"),
    ({"cells": [CELL], "n_bootstrap": "many"}, "n_bootstrap must be a int"),
    ({"cells": ["random x lee"]}, r"cells\[0\] must be an object"),
])
def test_a_suite_that_checks_nothing_or_anything_is_refused_naming_the_field(tmp_path, suite, message):
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite).replace("Infinity", "Infinity"))
    with pytest.raises(ValueError, match=message):
        load_suite(path)
    result = CliRunner().invoke(app, ["check", "--suite", str(path)])
    assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output


def test_the_committed_suite_is_valid():
    suite = load_suite("checks/smoke.json")
    assert suite["cells"] and all(c["metrics"] for c in suite["cells"])
