"""A prepared impressions task kept on disk, for datasets that build theirs (the Mix recipe
draws negatives over a whole log: seconds per load, where a warm run should take less).

An entry is one ``.npz`` of plain arrays (no pickle: a shared cache cannot run code), keyed by
what determines the task: the dataset's name and recipe, the sha256 of every source file, and
the code of the modules that build it. It also holds a sha256 of its own arrays; a damaged
entry is removed, with a warning, and the task is built again. Entries are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from recbench.protocol.cache import file_digest, file_mode
from recbench.protocol.data import default_cache_dir
from recbench.protocol.kinds.tasks import Impressions, ImpressionsTask

_IMPRESSION_ARRAYS = ("ids", "users", "times", "history", "history_offsets", "candidates", "candidate_offsets",
                      "labels")
_TEXT_ARRAYS = ("ids", "users", "times")


def task_key(identity: dict[str, Any], source_files: Sequence[Path], code_files: Sequence[Path]) -> str:
    """What the task depends on: the dataset's identity, its source files and the building code."""
    payload = {"identity": identity,
               "sources": [file_digest(Path(p)) for p in source_files],
               "code": [file_digest(Path(p)) for p in code_files]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _arrays(task: ImpressionsTask) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {"item_ids": np.asarray(task.item_ids, dtype=str)}
    for f, texts in task.item_fields.items():
        out[f"field__{f}"] = np.asarray(texts, dtype=str)
    for part in ("test", "train"):
        imps = getattr(task, part)
        if imps is None:
            continue
        for name in _IMPRESSION_ARRAYS:
            values = getattr(imps, name)
            out[f"{part}__{name}"] = np.asarray(values, dtype=str) if name in _TEXT_ARRAYS else values
    meta = {"name": task.name, "split": task.split, "default_fields": list(task.default_fields),
            "fingerprint": task.fingerprint, "info": task.info, "fields": list(task.item_fields)}
    out["meta"] = np.array(json.dumps(meta))
    return out


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


def _task(arrays: dict[str, np.ndarray]) -> ImpressionsTask:
    meta = json.loads(str(arrays["meta"]))
    parts: dict[str, Impressions | None] = {}
    for part in ("test", "train"):
        if f"{part}__ids" not in arrays:
            parts[part] = None
            continue
        parts[part] = Impressions(**{
            name: (arrays[f"{part}__{name}"].astype(object) if name in _TEXT_ARRAYS else arrays[f"{part}__{name}"])
            for name in _IMPRESSION_ARRAYS})
    return ImpressionsTask(
        name=meta["name"], split=meta["split"], item_ids=arrays["item_ids"].astype(object),
        item_fields={f: arrays[f"field__{f}"].astype(object).tolist() for f in meta["fields"]},
        test=parts["test"], train=parts["train"], default_fields=tuple(meta["default_fields"]),
        fingerprint=meta["fingerprint"], info=meta["info"])


def _same(a: ImpressionsTask, b: ImpressionsTask) -> bool:
    """Whether a stored-and-read task is the built one, field by field."""
    if (a.name, a.split, a.default_fields, a.fingerprint, a.item_fields) != (b.name, b.split, b.default_fields,
                                                                              b.fingerprint, b.item_fields):
        return False
    if json.dumps(a.info, sort_keys=True) != json.dumps(b.info, sort_keys=True) or \
            not np.array_equal(a.item_ids, b.item_ids):
        return False
    for part in ("test", "train"):
        x, y = getattr(a, part), getattr(b, part)
        if (x is None) != (y is None):
            return False
        if x is not None and not all(np.array_equal(getattr(x, n), getattr(y, n)) for n in _IMPRESSION_ARRAYS):
            return False
    return True


class TaskCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir() / "tasks"

    def get_or_build(self, label: str, key: str, build: Callable[[], ImpressionsTask]) -> ImpressionsTask:
        """The cached task of this key, or ``build()``'s, stored for the next run."""
        path = self.root / f"{label}-{key}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    arrays = {name: z[name] for name in z.files if name != "sha256"}
                    checksum = str(z["sha256"])
                if _digest(arrays) != checksum:
                    raise ValueError("its checksum does not match its arrays")
                return _task(arrays)
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                warnings.warn(f"task cache: {path} is not usable ({exc}); removed, building again", stacklevel=2)
                path.unlink(missing_ok=True)
        task = build()
        arrays = _arrays(task)
        if _same(_task(arrays), task):
            self._put(path, arrays)
        else:  # a text numpy cannot hold as it is (a trailing NUL): build each time instead
            warnings.warn(f"task cache: {label} does not survive storing unchanged; not cached", stacklevel=2)
        return task

    @staticmethod
    def _put(path: Path, arrays: dict[str, np.ndarray]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, sha256=np.array(_digest(arrays)), **arrays)
            os.chmod(tmp, file_mode())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
