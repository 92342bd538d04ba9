"""The registry: decorators, suggestions, and third-party plugins installed as their own distribution."""

import os
import subprocess
import sys
import textwrap

import pytest

from recbench.api import Registry, UnknownNameError, baselines, datasets, split_spec


def test_builtins_are_found_without_naming_them_in_the_core():
    assert {"random", "glove-avg", "sif", "sbert"} <= set(baselines.names())
    assert {"lee", "sts-b", "sts12", "sts16", "pairs"} <= set(datasets.names())


def test_unknown_names_get_suggestions():
    with pytest.raises(UnknownNameError, match=r"unknown model 'sfi'\. Did you mean 'sif'"):
        baselines.get("sfi")
    with pytest.raises(UnknownNameError, match=r"Did you mean 'sts-b'"):
        datasets.get("stsb")


def test_spec_argument_after_colon():
    assert split_spec("sbert:/models/mpnet") == ("sbert", "/models/mpnet")
    assert split_spec("pairs:C:/data/x.csv") == ("pairs", "C:/data/x.csv")
    assert split_spec("sif") == ("sif", None)
    assert "sbert:/anything" in baselines


def test_double_registration_is_an_error():
    reg = Registry("thing", "recbench.tests-nothing")
    reg.add("a", object)
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", int)
    with pytest.raises(ValueError, match="must not contain ':'"):
        reg.add("b:c", int)


PLUGIN = '''
import numpy as np
from recbench.api import Dataset, PairsTask
from toy_plugin_models import LetterCounts  # noqa: F401 (the tests' toy encoder: tests/toy_plugin_models.py)


class ToyPairs(Dataset):
    kind = "pairs"
    description = "three toy pairs"

    def load(self, split=None):
        return PairsTask(self.name, self.check_split(split), ["a cat", "a dog", "rain"],
                         ["a cat!", "the dog", "sunshine"], np.array([5.0, 4.0, 0.5]))
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "recbench-toy-plugin"
version = "0.1.0"

[project.entry-points."recbench.baselines"]
toy-letters = "recbench_toy_plugin:LetterCounts"

[project.entry-points."recbench.datasets"]
toy-pairs = "recbench_toy_plugin:ToyPairs"
'''


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    src = tmp_path_factory.mktemp("plugin-src")
    (src / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (src / "recbench_toy_plugin").mkdir()
    (src / "recbench_toy_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(site), str(src)],
        check=True, capture_output=True, text=True,
    )
    assert list(site.glob("recbench_toy_plugin-0.1.0.dist-info/entry_points.txt"))
    return site


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(args, site, cwd):
    # the plugin's site and the checkout under test, whatever an installed recbench points to
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), REPO, os.path.join(REPO, "tests"),
                                                       os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "recbench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.integration
def test_a_plugin_distribution_is_found_listed_and_runs(installed_plugin, tmp_path):
    listing = run_cli(["list"], installed_plugin, tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "toy-letters" in listing.stdout and "plugin recbench-toy-plugin" in listing.stdout
    assert "toy-pairs" in listing.stdout

    out = run_cli(["run", "--model", "toy-letters", "--dataset", "lee,toy-pairs", "--n-bootstrap", "50",
                   "--latency-queries", "3", "--no-progress"], installed_plugin, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "done  toy-letters x lee" in out.stdout and "done  toy-letters x toy-pairs" in out.stdout
    assert len(list((tmp_path / "runs").glob("lee__toy-letters__*.json"))) == 1
