"""Input checks shared by every statistic: degenerate counts are a clear error, never a NaN."""

from __future__ import annotations

import math
import numbers

from engine.errors import UserError


def counts(k: object, n: object, label: str = "") -> tuple[int, int]:
    """Validate k successes out of n trials."""
    where = f" for {label}" if label else ""
    for name, value in (("k", k), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            if isinstance(value, float) and value.is_integer():
                continue
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
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or math.isnan(float(p)):
        raise UserError(f"{name} must be a number, got {p!r}")
    p = float(p)
    low_ok = p > 0 if open_interval else p >= 0
    high_ok = p < 1 if open_interval else p <= 1
    if not (low_ok and high_ok):
        bounds = "strictly between 0 and 1" if open_interval else "between 0 and 1"
        raise UserError(f"{name} must be {bounds}, got {p}")
    return p
