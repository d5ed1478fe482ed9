"""Wilson score intervals for success rates (statsmodels' ``proportion_confint``).

Wilson rather than the textbook Wald interval: it keeps close to nominal coverage at small n and
at rates near 0 or 1 (where Wald collapses to a zero-width interval), which is exactly where
robot success rates live.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
from statsmodels.stats.proportion import proportion_confint

from engine.errors import UserError
from engine.stats import validate


@dataclass(frozen=True)
class Interval:
    """k successes of n trials: the rate and its Wilson score interval (all fractions)."""

    k: int
    n: int
    rate: float
    low: float
    high: float

    def to_dict(self) -> dict:
        return asdict(self)


def wilson(k: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for k/n at ``confidence`` (two-sided, e.g. 0.95)."""
    k, n = validate.counts(k, n)
    confidence = validate.probability(confidence, "confidence", open_interval=True)
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    rate = k / n
    # statsmodels' bounds carry round-off (10/10 gives a high of 0.9999999999999999 < rate);
    # the Wilson interval always contains the rate, so the bounds are clamped to it.
    return Interval(k, n, rate, min(float(low), rate), max(float(high), rate))


def wilson_many(
    ks: npt.ArrayLike, ns: npt.ArrayLike, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised Wilson bounds (low, high) for live displays refreshed many times a second.

    Unlike :func:`wilson` this never raises for bad counts: an entry with n = 0 (a condition
    with no finished trial yet) or impossible counts (negative, k > n, not finite) gives NaN,
    so one odd row cannot blank a whole summary. ``ks`` and ``ns`` must have the same shape.
    """
    confidence = validate.probability(confidence, "confidence", open_interval=True)
    ks = np.asarray(ks, dtype=float)
    ns = np.asarray(ns, dtype=float)
    if ks.shape != ns.shape:
        raise UserError(f"ks and ns must have the same shape, got {ks.shape} and {ns.shape}")
    low = np.full(ks.shape, np.nan)
    high = np.full(ks.shape, np.nan)
    with np.errstate(invalid="ignore"):  # NaN entries compare False, i.e. they stay NaN
        ok = np.isfinite(ks) & np.isfinite(ns) & (ns > 0) & (ks >= 0) & (ks <= ns)
    if ok.any():
        lo, hi = proportion_confint(ks[ok], ns[ok], alpha=1 - confidence, method="wilson")
        rate = ks[ok] / ns[ok]
        low[ok], high[ok] = np.minimum(lo, rate), np.maximum(hi, rate)  # round-off, see wilson()
    return low, high


def overlap(a: Interval, b: Interval) -> bool:
    """Whether two intervals share at least one point (touching counts as overlapping)."""
    return a.low <= b.high and b.low <= a.high
