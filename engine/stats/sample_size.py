"""Trials per arm needed to tell two success rates apart (Cohen's h, normal approximation).

Method: the effect size is Cohen's h = 2 asin(sqrt(p_A)) - 2 asin(sqrt(p_B))
(statsmodels ``proportion_effectsize``), and the power is that of a two-sided z test with
equal arms (statsmodels ``NormalIndPower``). The answer is the *smallest whole number* of trials
per arm whose power reaches the target. ``solve_power`` gives the real-valued estimate; it is
then checked against the power function itself, because ``solve_power`` returns NaN when the
answer is only a trial or two and can land a hair below the true root.

The arcsine approximation is poor for a handful of trials; treat answers below ~10 per arm as
"very few", not as an exact design.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from engine.errors import UserError
from engine.stats import validate


@dataclass(frozen=True)
class SampleSize:
    """Trials needed in *each* arm for a two-sided test at ``alpha`` with ``power``."""

    p_a: float
    p_b: float
    power: float
    alpha: float
    n_per_arm: int

    def to_dict(self) -> dict:
        return asdict(self)


def n_needed(p_a: float, p_b: float, power: float = 0.8, alpha: float = 0.05) -> SampleSize:
    """Smallest n per arm so a two-sided test at ``alpha`` detects p_A vs p_B with ``power``."""
    p_a = validate.probability(p_a, "P_A")
    p_b = validate.probability(p_b, "P_B")
    power = validate.probability(power, "power", open_interval=True)
    alpha = validate.probability(alpha, "alpha", open_interval=True)
    if p_a == p_b:
        raise UserError("P_A and P_B are equal: no number of trials separates them")
    if power <= alpha:
        raise UserError(f"power ({power}) must be greater than alpha ({alpha})")
    effect = abs(float(proportion_effectsize(p_a, p_b)))
    analysis = NormalIndPower()

    def reached(n: int) -> bool:
        return analysis.power(effect_size=effect, nobs1=n, alpha=alpha, ratio=1.0) >= power

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # convergence warnings: a NaN is handled below
        estimate = float(
            np.asarray(
                analysis.solve_power(effect_size=effect, power=power, alpha=alpha, ratio=1.0)
            ).item()
        )
    high = math.ceil(estimate) if math.isfinite(estimate) and estimate >= 1 else 1
    low = 0  # invariant: power not reached at `low` (at n = 0 the power is alpha < power)
    while not reached(high):
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        if reached(mid):
            high = mid
        else:
            low = mid
    return SampleSize(p_a, p_b, power, alpha, high)
