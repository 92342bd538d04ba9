"""Pure numpy metrics with seeded bootstrap intervals.

Tests check every metric here against an independent reference (scipy, scikit-learn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r along the last axis (a batch of rows works too)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    num = (xc * yc).sum(axis=-1)
    den = np.sqrt((xc * xc).sum(axis=-1) * (yc * yc).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho = Pearson's r of average ranks (ties share their mean rank)."""
    return pearson(rankdata(x, axis=-1), rankdata(y, axis=-1))


CORRELATIONS = {"spearman": spearman, "pearson": pearson}


@dataclass(frozen=True)
class Estimate:
    """A metric value with its 95% bootstrap interval."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high}


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resampling indices; one seeded draw shared by every metric of a run."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def correlation_with_ci(
    pred: np.ndarray, gold: np.ndarray, which: str, indices: np.ndarray, scale: float = 100.0
) -> Estimate:
    """Correlation x ``scale`` with a percentile bootstrap interval over resampled pairs."""
    fn = CORRELATIONS[which]
    value = float(fn(pred, gold)) * scale
    boots = fn(pred[indices], gold[indices]) * scale
    lo, hi = percentile_interval(np.asarray(boots))
    return Estimate(value, lo, hi)
