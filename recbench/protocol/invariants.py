"""What every figure in a run record must satisfy before the record may be written.

A metric outside its range or a missing number is a bug in a protocol or a model, never a
result: the cell fails loudly, naming the metric, and writes nothing. Each task kind declares
the ranges of its metrics (``TaskKind.metric_ranges``: rates in [0, 1], correlations x100 in
[-100, 100]); a metric its kind does not declare is refused too.
"""

from __future__ import annotations

import math
from typing import Any

from recbench.protocol.settings import EvaluationError
from recbench.protocol.kinds.base import TaskKind, all_kinds
ROUNDING = 1e-9  # float error allowed beyond a bound (a sum of discounts divided by its ideal)


class MetricBoundsError(EvaluationError):
    """A metric left its range or is not a finite number."""


def metric_range(name: str, kind: TaskKind | None = None) -> tuple[float, float]:
    """The range its task kind declares for a metric (with no kind: the first kind declaring it)."""
    for candidate in [kind] if kind is not None else all_kinds():
        bounds = candidate.metric_range(name)
        if bounds is not None:
            return bounds
    where = f"task kind {kind.name!r}" if kind is not None else "any task kind"
    raise MetricBoundsError(f"metric {name!r} has no declared range in {where} (TaskKind.metric_ranges); "
                            "declare one before recording it")


def check_metrics(metrics: dict[str, dict[str, Any]], cell: str, kind: TaskKind | None = None) -> None:
    """Refuses a metric (value or interval end) that is not finite or leaves its kind's range."""
    if not metrics:
        raise MetricBoundsError(f"{cell}: the evaluation produced no metric")
    for name, est in metrics.items():
        lo, hi = metric_range(name, kind)
        for part in ("value", "ci_low", "ci_high"):
            x = est.get(part)
            if not isinstance(x, (int, float)) or not math.isfinite(x):
                raise MetricBoundsError(f"{cell}: metric {name!r} {part} is {x!r}, not a finite number "
                                        "(no query could be scored?); no record written")
            if not lo - ROUNDING <= x <= hi + ROUNDING:
                raise MetricBoundsError(f"{cell}: metric {name!r} {part} = {x!r} lies outside its range "
                                        f"[{lo:g}, {hi:g}]; no record written")
