"""Trials per arm needed to tell two success rates apart (Cohen's h, normal approximation)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from engine.errors import UserError
from engine.stats import validate


@dataclass(frozen=True)
class SampleSize:
    p_a: float
    p_b: float
    power: float
    alpha: float
    n_per_arm: int

    def to_dict(self) -> dict:
        return asdict(self)


def n_needed(p_a: float, p_b: float, power: float = 0.8, alpha: float = 0.05) -> SampleSize:
    """Two-sided test at ``alpha`` with ``power``; rounded up to whole trials."""
    p_a = validate.probability(p_a, "P_A")
    p_b = validate.probability(p_b, "P_B")
    power = validate.probability(power, "power", open_interval=True)
    alpha = validate.probability(alpha, "alpha", open_interval=True)
    if p_a == p_b:
        raise UserError("P_A and P_B are equal: no number of trials separates them")
    effect = abs(proportion_effectsize(p_a, p_b))
    n = NormalIndPower().solve_power(effect_size=effect, power=power, alpha=alpha, ratio=1.0)
    return SampleSize(p_a, p_b, power, alpha, int(math.ceil(n)))
