"""Wilson score intervals for success rates (statsmodels' implementation)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from engine.stats import validate


@dataclass(frozen=True)
class Interval:
    """k successes of n trials: the rate and its Wilson score interval (fractions)."""

    k: int
    n: int
    rate: float
    low: float
    high: float

    def to_dict(self) -> dict:
        return asdict(self)


def wilson(k: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval: good coverage at small n and near 0 or 1, unlike the Wald interval."""
    k, n = validate.counts(k, n)
    confidence = validate.probability(confidence, "confidence", open_interval=True)
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    return Interval(k, n, k / n, float(low), float(high))


def wilson_many(ks, ns, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised Wilson bounds for live displays; n = 0 entries give NaN instead of an error."""
    confidence = validate.probability(confidence, "confidence", open_interval=True)
    ks = np.asarray(ks, dtype=float)
    ns = np.asarray(ns, dtype=float)
    low = np.full(ks.shape, np.nan)
    high = np.full(ks.shape, np.nan)
    ok = ns > 0
    if ok.any():
        lo, hi = proportion_confint(ks[ok], ns[ok], alpha=1 - confidence, method="wilson")
        low[ok], high[ok] = lo, hi
    return low, high


def overlap(a: Interval, b: Interval) -> bool:
    return a.low <= b.high and b.low <= a.high
