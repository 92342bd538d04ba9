"""An on-disk cache of item embeddings, keyed by the model's identity and parameters plus a
hash of the texts: a second run of the same model on the same items does not encode again."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from recbench.benchmark.data import default_cache_dir


def model_key(model: Any) -> str:
    identity = {"name": model.name, "params": model.params, "class": type(model).__qualname__,
                "module": type(model).__module__}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:20]


def texts_key(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:24]


class EmbeddingCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir() / "embeddings"

    def path(self, model: Any, texts: Sequence[str]) -> Path:
        return self.root / f"{model.name.replace('/', '_')}-{model_key(model)}" / f"{texts_key(texts)}.npy"

    def get(self, model: Any, texts: Sequence[str]) -> np.ndarray | None:
        """The cached embeddings of exactly these texts, or None (a damaged entry counts as none)."""
        path = self.path(model, texts)
        if path.is_file():
            try:
                arr = np.load(path)
                if arr.shape[0] == len(texts):
                    return arr
            except (OSError, ValueError):
                pass  # a damaged entry is recomputed and replaced
        return None

    def put(self, model: Any, texts: Sequence[str], arr: np.ndarray) -> Path:
        """Stores an entry atomically (a reader never sees half a file)."""
        path = self.path(model, texts)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr)
        os.replace(tmp, path)
        return path

    def get_or_compute(self, model: Any, texts: Sequence[str], compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
        """The cached embeddings, or ``compute()`` stored atomically; returns (array, hit)."""
        arr = self.get(model, texts)
        if arr is not None:
            return arr, True
        arr = compute()
        self.put(model, texts, arr)
        return arr, False
