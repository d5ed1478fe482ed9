"""Input checks shared by every statistic: degenerate input is a clear one-line error, never a NaN.

Every public function in :mod:`engine.stats` (except the live-display helper ``wilson_many``)
validates through here, so the messages are the same wherever a bad value comes from.
"""

from __future__ import annotations

import math
import numbers

from engine.errors import UserError


def counts(k: object, n: object, label: str = "") -> tuple[int, int]:
    """Validate k successes out of n trials (whole numbers, n >= 1, 0 <= k <= n)."""
    where = f" for {label}" if label else ""
    for name, value in (("k", k), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            if isinstance(value, float) and value.is_integer():
                continue  # 7.0 is a whole number; 7.5, inf and nan are not
            raise UserError(f"{name}{where} must be a whole number, got {value!r}")
    k, n = int(k), int(n)  # type: ignore[call-overload]
    if n <= 0:
        raise UserError(f"n{where} must be at least 1, got {n}")
    if k < 0:
        raise UserError(f"k{where} must not be negative, got {k}")
    if k > n:
        raise UserError(f"k{where} ({k}) cannot exceed n ({n})")
    return k, n


def probability(p: object, name: str, *, open_interval: bool = False) -> float:
    """A number in [0, 1], or in (0, 1) with ``open_interval`` (confidence, alpha, power)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or math.isnan(float(p)):
        raise UserError(f"{name} must be a number, got {p!r}")
    p = float(p)
    low_ok = p > 0 if open_interval else p >= 0
    high_ok = p < 1 if open_interval else p <= 1
    if not (low_ok and high_ok):
        bounds = "strictly between 0 and 1" if open_interval else "between 0 and 1"
        raise UserError(f"{name} must be {bounds}, got {p}")
    return p


def margin(m: object) -> float:
    """An equivalence margin: a difference of rates as a fraction, strictly between 0 and 1."""
    if isinstance(m, bool) or not isinstance(m, numbers.Real) or not 0 < float(m) < 1:
        raise UserError(
            f"margin must be a fraction strictly between 0 and 1 (0.05 = 5 points), got {m!r}"
        )
    return float(m)
