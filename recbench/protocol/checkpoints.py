"""Where a trained model's checkpoint is found and who trained it: the manifest's name, a folder
as a record keeps it (relative to the cache), and the cell that trained it. Read by the protocol
(a reranker loaded from a checkpoint) and by models; written by ``recbench.run.training``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


from recbench.protocol.data import default_cache_dir

MANIFEST = "recbench-checkpoint.json"


def recorded_checkpoint(folder: Path) -> str:
    """The checkpoint folder as a record keeps it: relative to the cache root
    (``checkpoints/sasrec-1a2b...``), so a committed record names no machine's home folder;
    ``resolve_checkpoint`` finds it again. A folder outside the cache stays absolute."""
    try:
        return Path(folder).resolve().relative_to(default_cache_dir().resolve()).as_posix()
    except ValueError:
        return str(folder)


def checkpoint_provenance(path: str | Path) -> dict[str, Any] | None:
    """The cell that trained the checkpoint at ``path`` (its manifest's ``trained_by``), or None:
    no manifest there, or one written before manifests kept it."""
    try:
        manifest = json.loads((resolve_checkpoint(path) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = manifest.get("trained_by") if isinstance(manifest, dict) else None
    return found if isinstance(found, dict) else None


def describe_provenance(trained_by: dict[str, Any]) -> str:
    """``cross-encoder(amazon-scientific-mix,200steps,seed=0)``: a trained model by its cell."""
    from recbench.protocol.options import format_label

    model = format_label(str(trained_by.get("model")), trained_by.get("model_options") or {})
    dataset = format_label(str(trained_by.get("dataset")), trained_by.get("dataset_options") or {})
    return f"{model}({dataset},{trained_by.get('budget')},seed={trained_by.get('seed')})"


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder as given (a path, or a record's path relative to the cache root)."""
    given = Path(path).expanduser()
    if given.is_dir() or given.is_absolute():
        return given
    under_cache = default_cache_dir() / given
    return under_cache if under_cache.is_dir() else given
