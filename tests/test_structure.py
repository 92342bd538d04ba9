"""The shape of the code that the next maintainer relies on: no import circles among recbench's
modules (top-level imports, and the deferred ones inside functions too), log sources registrable
as plugins, and discovery that imports no model framework."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "recbench"

# The wings and the one direction their imports run: a module may import its own wing and any wing
# of a lower layer, never one of its own layer or above. protocol is the floor; results, datasets
# and baselines build on it; run and report on those; the command line and the public surface on top.
LAYERS = {"protocol": 0, "results": 1, "datasets": 1, "baselines": 1, "run": 2, "report": 2, "cli": 3, "api": 3}
LAZY_CALLS = {"lazy_names", "LazyModule", "import_module"}


def wing_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "recbench" else None


def imports_of(tree: ast.AST) -> set[str]:
    """Every recbench module a file reaches: top-level and deferred imports, and the string-named
    stand-ins (``lazy_names("recbench.baselines._neural", ...)``, ``import_module("recbench...")``)."""
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("recbench"):
            targets.add(node.module)
        elif isinstance(node, ast.Import):
            targets |= {a.name for a in node.names if a.name.startswith("recbench")}
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and node.args[0].value.startswith("recbench.")
              and getattr(node.func, "id", getattr(node.func, "attr", None)) in LAZY_CALLS):
            targets.add(node.args[0].value)
    return targets


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[module] = {t for t in imports_of(ast.parse(path.read_text())) if t != module}
    return graph


def test_the_graph_sees_deferred_and_string_named_imports() -> None:
    graph = import_graph()
    assert "recbench.baselines._neural" in graph["recbench.baselines.impressions.nrms"]  # lazy_names("...")
    assert "recbench.run.runner" in graph["recbench.run.grid"]  # an import inside a function


def test_imports_run_one_way_between_the_wings() -> None:
    graph = import_graph()
    unknown = sorted({w for m in graph if (w := wing_of(m)) and w not in LAYERS and (PACKAGE / w).is_dir()})
    assert not unknown, f"a wing without a layer in this test: {unknown}"
    upward = []
    for module, targets in sorted(graph.items()):
        here = wing_of(module)
        for target in sorted(targets):
            there = wing_of(target)
            if here in LAYERS and there in LAYERS and here != there and LAYERS[there] >= LAYERS[here]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that run across or up the wings:\n" + "\n".join(upward)


def test_no_import_circles() -> None:
    graph = import_graph()
    cycles = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            if nxt in graph:
                visit(nxt, stack + [node], done)
        done.add(node)

    done: set[str] = set()
    for module in sorted(graph):
        visit(module, [], done)
    known = {" -> ".join(c) for c in cycles}
    assert not known, "import circles:\n" + "\n".join(sorted(known))


def test_a_log_source_is_a_plugin_like_a_dataset(tmp_path: Path) -> None:
    from recbench.protocol.data import DataLocator
    from recbench.protocol.registry import UnknownNameError
    from recbench.datasets._logs import InteractionLog, LogSource, load_source, log_sources, register_log_source
    from recbench.datasets.mix import MixRecipe, build_impressions

    def read(folder: Path) -> InteractionLog:
        users = np.array(["u1"] * 4 + ["u2"] * 4, dtype=object)
        items = np.array(["a", "b", "c", "d", "b", "c", "d", "e"], dtype=object)
        news = pd.DataFrame({"id": list("abcde"), "category": "", "subcategory": "",
                             "title": [f"item {c} from {folder.name}" for c in "abcde"], "abstract": ""})
        return InteractionLog(users, items, np.arange(8, dtype=np.int64), news, [])

    register_log_source(LogSource("toy-log", read, None, needs_folder_argument=True))
    try:
        log = load_source(f"toy-log:{tmp_path}", DataLocator())
        assert log.news["title"].iloc[0] == f"item a from {tmp_path.name}"
        stats = build_impressions(log, tmp_path / "mix", MixRecipe(negatives=1, window=4))
        assert stats["dev"]["impressions"] == 2 and (tmp_path / "mix" / "dev" / "behaviors.tsv").is_file()
        with pytest.raises(ValueError, match="needs a folder"):
            load_source("toy-log", DataLocator())
        with pytest.raises(UnknownNameError, match="Did you mean 'toy-log'"):
            load_source("toy-lg:x", DataLocator())
    finally:
        log_sources.remove("toy-log")


def test_discovery_imports_no_model_framework() -> None:
    """Looking models and datasets up (what `recbench list` and every cell's start do) imports
    neither torch nor transformers: only a model that is built does."""
    code = ("import sys\nfrom recbench.protocol.registry import baselines, datasets\n"
            "[e.load() for e in baselines]; [e.load() for e in datasets]\n"
            "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_cli_reference_names_every_command_and_option() -> None:
    """docs/cli.md is generated (`typer recbench.cli utils docs`); regenerate it when this fails."""
    import typer.main

    from recbench.cli.app import app

    reference = (PACKAGE.parent / "docs" / "cli.md").read_text()
    group = typer.main.get_command(app)

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    missing = []
    for path, command in walk(group, ["recbench"]):
        if len(path) > 1 and f"`{' '.join(path)}`" not in reference:
            missing.append(" ".join(path))
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt not in reference:
                    missing.append(f"{' '.join(path)} {opt}")
    assert not missing, f"docs/cli.md lacks: {missing}"


def test_the_model_docs_name_every_hook() -> None:
    from recbench.protocol.model_contract import HOOKS

    doc = (PACKAGE.parent / "docs" / "adding-a-model.md").read_text()
    assert [h for h in HOOKS if f"`{h}`" not in doc] == []


def test_plugins_and_the_docs_import_only_the_public_api() -> None:
    """What a third party copies (the docs' examples, the plugin tests) imports ``recbench.api``
    only: the modules behind it may move without breaking a plugin."""
    import recbench.api

    root = PACKAGE.parent
    readers = [*sorted((root / "docs").glob("*.md")), root / "README.md",
               root / "tests" / "test_plugin_kind.py", root / "tests" / "test_registry.py"]
    elsewhere = [f"{path.name}: {line.strip()}" for path in readers for line in path.read_text().splitlines()
                 if re.search(r"\b(from|import) recbench\.(?!api\b)\w", line) and "recbench.cli" not in line]
    assert elsewhere == []
    missing = [name for name in recbench.api.__all__ if not hasattr(recbench.api, name)]
    assert missing == []
