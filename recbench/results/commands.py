"""The command line that reproduces a leaderboard row, from what its record holds (the site
shows it beside each row; ``recbench verify`` re-runs a record the same way)."""

from __future__ import annotations

import shlex
from typing import Any, Iterable

DEFAULTS = {"index": "flat", "pooling": "mean", "topk": 3, "latency_queries": 200, "batch_size": 32}


def _quoted(parts: list[str]) -> str:
    return " ".join(shlex.quote(p) for p in parts)


def command_line(record: dict[str, Any], seeds: Iterable[int] | None = None) -> str | None:
    """``recbench run -m ... -d ...`` with the options, protocol settings and training budget that
    make the record's cell; ``seeds``: a trained row's training seeds. None for a record written
    before records kept their cell."""
    cell = record.get("cell")
    if not cell:
        return None
    settings = record.get("settings") or {}
    parts = ["recbench", "run", "-m", cell["model"], "-d", cell["dataset"]]
    for key, value in sorted((cell.get("model_options") or {}).items()):
        parts += ["-o", f"{key}={value}"]
    for key, value in sorted((cell.get("dataset_options") or {}).items()):
        parts += ["-D", f"{key}={value}"]
    if settings.get("fields"):
        parts += ["--fields", ",".join(settings["fields"])]  # as `--fields` reads them (title+brand did not run)
    if settings.get("pooling", DEFAULTS["pooling"]) != DEFAULTS["pooling"]:
        parts += ["--pooling", str(settings["pooling"])]
        if settings.get("pooling") == "topk" and settings.get("topk", 3) != DEFAULTS["topk"]:
            parts += ["--topk", str(settings["topk"])]
    if settings.get("index", DEFAULTS["index"]) != DEFAULTS["index"]:
        parts += ["--index", str(settings["index"])]
    if settings.get("rerank"):
        parts += ["--rerank", str(settings["rerank"]), "--rerank-depth", str(settings.get("rerank_depth"))]
    if settings.get("max_queries") is not None:
        parts += ["--max-queries", str(settings["max_queries"])]
    if settings.get("threads"):
        parts += ["--threads", str(settings["threads"])]
    if settings.get("latency_queries", DEFAULTS["latency_queries"]) != DEFAULTS["latency_queries"]:
        parts += ["--latency-queries", str(settings["latency_queries"])]
    training = cell.get("training")
    if training:
        parts += ["--train-budget", str(training["budget"])]
        chosen = sorted(set(seeds)) if seeds else [training.get("seed", 0)]
        parts += ["--train-seeds", ",".join(str(s) for s in chosen)]
    return _quoted(parts)
