"""recbench uses only the public API of its dependencies (issue 33): a private method of
transformers changed its signature between 5.24 and 5.25 and broke four trained models for
every new install. Two guards: no source file of the package reaches for an underscore-prefixed
name of another package, and the one place that runs a BERT layer by layer (frozen, cached lower
layers) still equals the model's public forward under padding."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "recbench"

# Underscore names that are public by their library's own documentation, each with where it says so.
DOCUMENTED_PUBLIC = {
    "os._exit",  # https://docs.python.org/3/library/os.html#os._exit: "exit the process ... without cleanup"
}


def private_uses(source: str, filename: str) -> list[str]:
    """Every ``obj._name`` on something that is not ``self``/``cls`` (recbench's own private
    state is reached only through them), every ``getattr(obj, "_name")``, and every import of an
    underscore-prefixed name or module from outside recbench."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = ast.unparse(node.value)
            if base not in ("self", "cls") and f"{base}.{node.attr}" not in DOCUMENTED_PUBLIC:
                found.append(f"{where}: {base}.{node.attr}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr", "hasattr")
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and node.args[1].value.startswith("_") and not node.args[1].value.startswith("__")):
            found.append(f"{where}: {node.func.id}(..., {node.args[1].value!r})")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and not node.module.startswith("recbench"):
            parts = node.module.split(".")
            if node.module != "__future__" and (any(p.startswith("_") for p in parts) or any(a.name.startswith("_") for a in node.names)):
                found.append(f"{where}: from {node.module} import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith("recbench") and any(p.startswith("_") for p in alias.name.split(".")):
                    found.append(f"{where}: import {alias.name}")
    return found


def test_the_walker_finds_each_form_of_private_access() -> None:
    source = ("import transformers._private\nfrom torch._dynamo import x\nfrom torch import _C\n"
              "bert._create_attention_masks()\ngetattr(model, '_hidden')\nself._mine\nos._exit(1)\nx.__class__\n")
    found = private_uses(source, "t.py")
    assert sorted(f.split(": ", 1)[1] for f in found) == sorted([
        "import transformers._private", "from torch._dynamo import x", "from torch import _C",
        "bert._create_attention_masks", "getattr(..., '_hidden')"])


def test_no_module_of_the_package_uses_a_private_name_of_another_package() -> None:
    found = [use for path in sorted(PACKAGE.rglob("*.py"))
             for use in private_uses(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))]
    assert not found, "private API of a dependency (use its public API instead):\n" + "\n".join(found)


def test_running_bert_layer_by_layer_equals_its_public_forward_under_padding() -> None:
    torch = pytest.importorskip("torch")
    from recbench.baselines._neural import bert_layers, bert_lower
    from recbench.baselines.encoders.sbert import load_sentence_transformer

    bert = load_sentence_transformer(None, "test")[0].auto_model.eval()
    tokenizer = load_sentence_transformer(None, "test").tokenizer
    enc = tokenizer(["a short title", "a much longer title with many more words in it than the first", "x"],
                    padding=True, return_tensors="pt")
    assert not bool(enc["attention_mask"].all())  # padding is what the mask must get right
    with torch.no_grad():
        public = bert(**enc).last_hidden_state
        lower = bert_lower(bert, enc, 4)
        ours = bert_layers(bert, lower, enc["attention_mask"], bert.encoder.layer[4:])
    keep = enc["attention_mask"].bool()
    assert np.allclose(ours[keep].numpy(), public[keep].numpy(), atol=1e-5)
    one = tokenizer(["no padding at all"], return_tensors="pt")  # no padding: no mask, as the model does
    with torch.no_grad():
        assert np.allclose(bert_layers(bert, bert_lower(bert, one, 0), one["attention_mask"], bert.encoder.layer).numpy(),
                           bert(**one).last_hidden_state.numpy(), atol=1e-5)
