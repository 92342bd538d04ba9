"""What a sentence-transformers folder is, read from its configuration files alone.

A model's identity (the embedding cache's key, the record's parameters) must not need its
weights in memory: a warm run whose every text is cached then never loads the model. For the
common layouts (a Transformer, a Pooling, optional Dense and Normalize modules, safetensors
weights) this reads the maximum sequence length, the output dimension and the parameter count
from ``modules.json``, ``sentence_bert_config.json``, the pooling and dense configurations and
the safetensors headers. Anything else gives None, and the caller loads the model to ask it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

_POOLING_MODES = ("pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens",
                  "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                  "pooling_mode_lasttoken")
_KNOWN = {"Transformer", "Pooling", "Dense", "Normalize"}


@dataclass(frozen=True)
class FolderIdentity:
    max_seq_length: int
    dim: int
    n_parameters: int


def safetensors_parameters(path: Path) -> int:
    """The number of parameter values in a safetensors file, from its JSON header (no tensor
    read). A buffer saved beside the weights (old BERT checkpoints' ``position_ids``) is not a
    parameter and is not counted."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    total = 0
    for name, entry in header.items():
        if name == "__metadata__" or name.endswith("position_ids"):
            continue
        count = 1
        for d in entry["shape"]:
            count *= int(d)
        total += count
    return total


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def folder_identity(folder: str | Path) -> FolderIdentity | None:
    """Max length, output dimension and parameter count of a sentence-transformers folder, or
    None where its layout is not one this reads with certainty."""
    folder = Path(folder)
    try:
        modules = _read(folder / "modules.json")
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if not set(kinds) <= _KNOWN or kinds.count("Transformer") != 1 or kinds.count("Pooling") != 1:
            return None
        n_parameters, dim, max_len = 0, None, None
        for module, kind in zip(modules, kinds):
            where = folder / module.get("path", "")
            if kind == "Transformer":
                weights = where / "model.safetensors"
                st_config = _read(where / "sentence_bert_config.json")
                config = _read(where / "config.json")
                if not weights.is_file() or st_config.get("max_seq_length") is None:
                    return None
                n_parameters += safetensors_parameters(weights)
                max_len = int(st_config["max_seq_length"])
                dim = int(config["hidden_size"])
            elif kind == "Pooling":
                pooling = _read(where / "config.json")
                modes = sum(bool(pooling.get(m)) for m in _POOLING_MODES)
                if modes == 0:
                    return None
                dim = int(pooling["word_embedding_dimension"]) * modes
            elif kind == "Dense":
                dense = _read(where / "config.json")
                weights = where / "model.safetensors"
                if not weights.is_file():
                    return None
                n_parameters += safetensors_parameters(weights)
                dim = int(dense["out_features"])
        if dim is None or max_len is None:
            return None
        return FolderIdentity(max_seq_length=max_len, dim=dim, n_parameters=n_parameters)
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None

