"""What every figure in a run record must satisfy before the record may be written.

A metric outside its range or a missing number is a bug in a protocol or a model, never a
result: the cell fails loudly, naming the metric, and writes nothing. The ranges are declared
here once, by metric family: rates in [0, 1], correlations x100 in [-100, 100].
"""

from __future__ import annotations

import math
import re
from typing import Any

from recbench.benchmark.evaluate import EvaluationError

RANGES: tuple[tuple[str, tuple[float, float]], ...] = (
    (r"(auc|mrr|ndcg@\d+|hr@\d+|recall@\d+)", (0.0, 1.0)),
    (r"(spearman|pearson)(_mean|_wmean)?", (-100.0, 100.0)),
)
ROUNDING = 1e-9  # float error allowed beyond a bound (a sum of discounts divided by its ideal)


class MetricBoundsError(EvaluationError):
    """A metric left its range or is not a finite number."""


def metric_range(name: str) -> tuple[float, float]:
    for pattern, bounds in RANGES:
        if re.fullmatch(pattern, name):
            return bounds
    raise MetricBoundsError(f"metric {name!r} has no declared range in recbench.benchmark.invariants; "
                            "declare one before recording it")


def check_metrics(metrics: dict[str, dict[str, Any]], cell: str) -> None:
    """Refuses a metric (value or interval end) that is not finite or leaves its range."""
    if not metrics:
        raise MetricBoundsError(f"{cell}: the evaluation produced no metric")
    for name, est in metrics.items():
        lo, hi = metric_range(name)
        for part in ("value", "ci_low", "ci_high"):
            x = est.get(part)
            if not isinstance(x, (int, float)) or not math.isfinite(x):
                raise MetricBoundsError(f"{cell}: metric {name!r} {part} is {x!r}, not a finite number "
                                        "(no query could be scored?); no record written")
            if not lo - ROUNDING <= x <= hi + ROUNDING:
                raise MetricBoundsError(f"{cell}: metric {name!r} {part} = {x!r} lies outside its range "
                                        f"[{lo:g}, {hi:g}]; no record written")
