"""TOST equivalence test for two proportions (statsmodels), with a pre-registered margin.

Equivalence is shown when both one-sided tests reject, i.e. the difference p_A - p_B is
significantly above -margin and below +margin. The score method is used (better small-sample
behaviour than Wald).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from statsmodels.stats.proportion import tost_proportions_2indep

from engine.errors import UserError
from engine.stats import validate


@dataclass(frozen=True)
class Equivalence:
    diff: float
    margin: float
    alpha: float
    p_value: float
    p_lower: float
    p_upper: float
    equivalent: bool
    verdict: str

    def to_dict(self) -> dict:
        return asdict(self)


def tost(k_a: int, n_a: int, k_b: int, n_b: int, margin: float, alpha: float = 0.05) -> Equivalence:
    k_a, n_a = validate.counts(k_a, n_a, "A")
    k_b, n_b = validate.counts(k_b, n_b, "B")
    alpha = validate.probability(alpha, "alpha", open_interval=True)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 < margin < 1:
        raise UserError(f"margin must be a fraction strictly between 0 and 1, got {margin!r}")
    result = tost_proportions_2indep(k_a, n_a, k_b, n_b, -margin, margin, method="score")
    p_lower = float(result.results_larger.pvalue)
    p_upper = float(result.results_smaller.pvalue)
    p_value = max(p_lower, p_upper)
    equivalent = p_value < alpha
    verdict = "equivalent" if equivalent else "not shown equivalent"
    return Equivalence(
        k_a / n_a - k_b / n_b, margin, alpha, p_value, p_lower, p_upper, equivalent, verdict
    )
