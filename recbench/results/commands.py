"""The command line that reproduces a leaderboard row, from what its record holds (the site
shows it beside each row; ``recbench verify`` prints it when a checkpoint must be rebuilt)."""

from __future__ import annotations

from typing import Any, Iterable

from recbench.results.cell_spec import CellSpec, CellSpecError


def default_split(dataset: str) -> str | None:
    """The dataset's own split (left out of a command line), or None where it cannot be looked up."""
    from recbench.protocol.registry import datasets

    try:
        return datasets.get(dataset).default_split
    except Exception:  # an unknown or broken plugin dataset: say the split
        return None


def command_line(record: dict[str, Any], seeds: Iterable[int] | None = None) -> str | None:
    """``recbench run -m ... -d ...`` with the options, protocol settings and training budget that
    make the record's cell; ``seeds``: a trained row's training seeds. None for a record written
    before records kept their cell, or one whose settings no flag can say. A tuned row came from
    ``recbench tune``: its line is that search's."""
    tuning = (record.get("details") or {}).get("tuning") if isinstance(record.get("details"), dict) else None
    if isinstance(tuning, dict) and "chosen" in tuning and "trial" not in tuning:
        return tune_command_line(record, tuning)
    try:
        spec = CellSpec.from_record(record)
        return spec.command_line(seeds, default_split(spec.dataset))
    except CellSpecError:
        return None


def tune_command_line(record: dict[str, Any], tuning: dict[str, Any]) -> str | None:
    """``recbench tune ...`` asking the same search again (the same id: it resumes from the trials
    under ``tuning/<id>/`` where they are kept, else runs them), from the tuned record's details."""
    import re
    import shlex

    cell = record.get("cell") or {}
    model, dataset = cell.get("model") or record.get("model"), cell.get("dataset") or record.get("dataset")
    if not model or not dataset:
        return None
    chosen = tuning.get("chosen") or {}
    seed = tuning.get("seed")
    if seed is None:  # records written before the seed had its own field say it in the sampler's line
        found = re.search(r"seed (\d+)", str(tuning.get("sampler", "")))
        seed = int(found.group(1)) if found else 0
    parts = ["recbench", "tune", "-m", str(model), "-d", str(dataset), "--trials", str(tuning.get("trials_asked", 8)),
             "--seed", str(int(seed))]
    if tuning.get("trial_budget"):
        parts += ["--train-budget", str(tuning["trial_budget"])]
    if tuning.get("max_minutes") is not None:
        parts += ["--max-minutes", f"{float(tuning['max_minutes']):g}"]
    for name, text in (tuning.get("space") or {}).items():
        parts += ["--space", f"{name}={text}"]
    for name, value in sorted((cell.get("model_options") or {}).items()):
        if name not in chosen:
            parts += ["-o", f"{name}={value}"]
    for name, value in sorted((cell.get("dataset_options") or {}).items()):
        parts += ["-D", f"{name}={value}"]
    return " ".join(shlex.quote(p) for p in parts)
