"""TOST equivalence test for two proportions with a pre-registered margin (statsmodels).

Equivalence within margin M is shown when both one-sided tests reject at ``alpha``:
``p_lower`` tests H0: p_A - p_B <= -M against p_A - p_B > -M, and ``p_upper`` tests
H0: p_A - p_B >= +M against p_A - p_B < +M. The TOST p-value is the larger of the two; it is
below alpha exactly when the (1 - 2 alpha) Agresti-Caffo interval of the difference lies
inside (-M, M).

Method: ``tost_proportions_2indep(method="agresti-caffo")`` -- a z test on the difference
after adding one success and one failure to each arm (Agresti & Caffo 2000). Chosen because:

* plain ``"wald"`` has zero variance at 0/n or n/n, so 0/10 vs 0/10 would come out
  "equivalent" with p = 0 -- exactly the ceiling/floor rates robot tasks produce;
* ``"score"`` (Miettinen-Nurminen) uses a wrong constrained MLE in statsmodels 0.14-0.15 whenever
  the null difference is non-zero, as it always is in TOST, giving slightly wrong and
  occasionally NaN p-values (statsmodels issue #10269, open when this was written).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from statsmodels.stats.proportion import tost_proportions_2indep

from engine.stats import validate

METHOD = "agresti-caffo"


@dataclass(frozen=True)
class Equivalence:
    """TOST result; ``diff`` and ``margin`` are fractions (0.05 = 5 points)."""

    diff: float  # observed p_A - p_B
    margin: float
    alpha: float
    p_value: float  # max(p_lower, p_upper)
    p_lower: float  # H1: p_A - p_B > -margin
    p_upper: float  # H1: p_A - p_B < +margin
    equivalent: bool  # p_value < alpha
    verdict: str  # "equivalent" or "not shown equivalent"

    def to_dict(self) -> dict:
        return asdict(self)


def tost(k_a: int, n_a: int, k_b: int, n_b: int, margin: float, alpha: float = 0.05) -> Equivalence:
    """Is p_A - p_B within (-margin, +margin)? "not shown equivalent" is not "different"."""
    k_a, n_a = validate.counts(k_a, n_a, "A")
    k_b, n_b = validate.counts(k_b, n_b, "B")
    margin = validate.margin(margin)
    alpha = validate.probability(alpha, "alpha", open_interval=True)
    # statsmodels also computes an unused odds ratio, which divides by zero at 0/n or n/n.
    with np.errstate(divide="ignore", invalid="ignore"):
        result = tost_proportions_2indep(k_a, n_a, k_b, n_b, -margin, margin, method=METHOD)
    p_lower = float(result.results_larger.pvalue)
    p_upper = float(result.results_smaller.pvalue)
    p_value = float(result.pvalue)
    equivalent = bool(p_value < alpha)
    return Equivalence(
        diff=k_a / n_a - k_b / n_b,
        margin=margin,
        alpha=alpha,
        p_value=p_value,
        p_lower=p_lower,
        p_upper=p_upper,
        equivalent=equivalent,
        verdict="equivalent" if equivalent else "not shown equivalent",
    )
