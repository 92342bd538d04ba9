"""An on-disk cache of item embeddings: a second run of the same model on the same items does
not encode again, and a hit is the model's own vectors or nothing.

The key covers what determines the vectors: the model's name, class, parameters and declared
``version``, a hash of the code of the module that defines it (a plugin without a version is
still told apart when its code changes), and, where the model can say, a fingerprint of its
weights (``weights_fingerprint``: a local ``sbert:<folder>`` whose weights change gets another
key). Each entry is one ``.npz`` holding the vectors and a sha256 of their bytes; a hit is
validated as a fresh encode is (two dimensions, one row per text, the model's dimension where it
declares one, finite values, the checksum). A bad entry is removed and recomputed, with a
one-line warning. Entries are written atomically and readable by the group (a team's shared
cache), as records are.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from recbench.protocol.data import default_cache_dir
from recbench.protocol.model_contract import hook

def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode an ordinary new file gets (0o666 less the umask): records and cache entries are
    as readable as any file the user writes, not 0600 as a temp file is, so a team's shared
    results folder or cache can be read by its group."""
    return 0o666 & ~_umask()


def folder_mode() -> int:
    """The mode an ordinary new folder gets (0o777 less the umask), not mkdtemp's 0700."""
    return 0o777 & ~_umask()


@functools.lru_cache(maxsize=None)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (remembered per process while its size and mtime stay)."""
    st = Path(path).stat()
    return _file_digest(str(path), st.st_size, st.st_mtime_ns)


def folder_fingerprint(folder: Path, suffixes: tuple[str, ...] = (".safetensors", ".bin", ".json", ".onnx",
                                                                    ".txt", ".model")) -> str:
    """A fingerprint of a model folder's weights and configuration files (by content)."""
    h = hashlib.sha256()
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and p.suffix in suffixes:
            h.update(str(p.relative_to(folder)).encode())
            h.update(file_digest(p).encode())
    return h.hexdigest()[:20]


def code_digest(cls: type) -> str | None:
    """sha256 of the source file that defines ``cls`` (None where it cannot be read)."""
    try:
        source = inspect.getsourcefile(cls)
        return file_digest(Path(source))[:16] if source else None
    except (OSError, TypeError):
        return None


FAMILY_MODULE = re.compile(r"^recbench\.baselines\.(?:encoders|sequential|joint|impressions|references)\.")


def identity_module(cls: type) -> str:
    """The module a model class is keyed by: a built-in baseline's as it was before the baselines
    moved into family folders (``recbench.baselines.sasrec``), so that moving a file invalidates
    no cached vector or checkpoint; only what the model computes (options, version, code) does."""
    return FAMILY_MODULE.sub("recbench.baselines.", cls.__module__)


def model_key(model: Any) -> str:
    identity = {"name": model.name, "params": model.params, "class": type(model).__qualname__,
                "module": identity_module(type(model)), "version": hook(model, "version"),
                "code": code_digest(type(model)), "weights": hook(model, "weights_fingerprint")}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:20]


def texts_key(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:24]


def vectors_digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


class CacheEntryError(ValueError):
    """A cache entry that is not the vectors it claims to be."""


def validate_entry(arr: np.ndarray, checksum: str | None, n_texts: int, dim: int | None) -> None:
    if arr.ndim != 2 or arr.shape[0] != n_texts:
        raise CacheEntryError(f"shape {arr.shape}, expected ({n_texts}, d)")
    if dim is not None and arr.shape[1] != dim:
        raise CacheEntryError(f"dimension {arr.shape[1]}, the model's is {dim}")
    if checksum is not None and vectors_digest(arr) != checksum:
        raise CacheEntryError("its checksum does not match its vectors")
    if not np.isfinite(arr).all():
        raise CacheEntryError(f"{int((~np.isfinite(arr).all(axis=1)).sum())} row(s) hold NaN or infinite values")


def _write_atomically(path: Path, suffix: str, write: Callable[[Any], None], binary: bool) -> Path:
    """Writes a file through a temporary file in its folder and a rename: a reader never sees half
    a file, and a failed or interrupted write (a full disk, a kill) leaves no temp file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=suffix)
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as f:
            write(f)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: Path, text: str) -> Path:
    """A text file, written atomically (``_write_atomically``)."""
    return _write_atomically(path, path.suffix, lambda f: f.write(text), binary=False)


def write_npz_atomically(path: Path, **arrays: np.ndarray) -> Path:
    """An npz entry, written atomically (``_write_atomically``)."""
    return _write_atomically(path, ".npz", lambda f: np.savez(f, **arrays), binary=True)


class EmbeddingCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir() / "embeddings"

    def path(self, model: Any, texts: Sequence[str]) -> Path:
        return self.root / f"{model.name.replace('/', '_')}-{model_key(model)}" / f"{texts_key(texts)}.npz"

    def get(self, model: Any, texts: Sequence[str]) -> np.ndarray | None:
        """The cached embeddings of exactly these texts, or None. A damaged, foreign or
        non-finite entry is removed (with a warning) and counts as none."""
        path = self.path(model, texts)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                arr, checksum = z["vectors"], str(z["sha256"])
            validate_entry(arr, checksum, len(texts), hook(model, "dim"))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(f"embedding cache: {path} is not usable ({exc}); removed, encoding again", stacklevel=2)
            path.unlink(missing_ok=True)
            return None
        return arr

    def put(self, model: Any, texts: Sequence[str], arr: np.ndarray) -> Path:
        """Stores an entry atomically (a reader never sees half a file), with its checksum."""
        arr = np.ascontiguousarray(arr)
        validate_entry(arr, None, len(texts), None)  # never store what a hit would refuse
        return write_npz_atomically(self.path(model, texts), vectors=arr, sha256=np.array(vectors_digest(arr)))


class TokenCache:
    """Token vectors of a token encoder (ColBERT), one entry per (model, texts, query or
    document side): every text's vectors stacked into one matrix plus each text's token count,
    with a checksum over both, written atomically; a damaged entry is removed and counts as none."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir() / "embeddings"

    def path(self, model: Any, texts: Sequence[str], kind: str) -> Path:
        return self.root / f"{model.name.replace('/', '_')}-{model_key(model)}" / f"{texts_key(texts)}-tokens-{kind}.npz"

    def get(self, model: Any, texts: Sequence[str], kind: str) -> list[np.ndarray] | None:
        path = self.path(model, texts, kind)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                flat, lengths, checksum = z["vectors"], z["lengths"], str(z["sha256"])
            if lengths.ndim != 1 or len(lengths) != len(texts) or (lengths < 0).any() or int(lengths.sum()) != len(flat):
                raise CacheEntryError(f"{len(lengths)} token counts summing to {int(lengths.sum())} for {len(texts)} "
                                      f"texts and {len(flat)} vectors")
            if vectors_digest(flat) + vectors_digest(lengths) != checksum:
                raise CacheEntryError("its checksum does not match its vectors")
            if not np.isfinite(flat).all():
                raise CacheEntryError("a token vector holds NaN or infinite values")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(f"token cache: {path} is not usable ({exc}); removed, encoding again", stacklevel=2)
            path.unlink(missing_ok=True)
            return None
        return np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []

    def put(self, model: Any, texts: Sequence[str], kind: str, tokens: Sequence[np.ndarray]) -> Path:
        dim = next((t.shape[1] for t in tokens if t.ndim == 2), 1)
        flat = np.ascontiguousarray(np.concatenate([t.reshape(-1, dim) for t in tokens]) if len(tokens)
                                    else np.zeros((0, dim)), dtype=np.float32)
        lengths = np.array([len(t) for t in tokens], dtype=np.int64)
        return write_npz_atomically(self.path(model, texts, kind), vectors=flat, lengths=lengths,
                                    sha256=np.array(vectors_digest(flat) + vectors_digest(lengths)))
