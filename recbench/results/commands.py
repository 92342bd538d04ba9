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
    before records kept their cell, or one whose settings no flag can say."""
    try:
        spec = CellSpec.from_record(record)
        return spec.command_line(seeds, default_split(spec.dataset))
    except CellSpecError:
        return None
