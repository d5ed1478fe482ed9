"""Comparing a condition A with a reference condition B (the study's battery of tests).

Directions: the one-sided tests ask whether A is *better* than B. The exact binomial test
treats B's observed rate as fixed and asks how likely A's successes (or more) would be at that
rate; if B's rate is 0 or 1 the binomial is degenerate (p = 1 when A cannot exceed it, and the
test is still computed by scipy otherwise). Fisher's exact test compares the 2x2 table
[[k_A, n_A - k_A], [k_B, n_B - k_B]]. Newcombe's hybrid score interval bounds p_A - p_B.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import scipy.stats as st
from statsmodels.stats.proportion import confint_proportions_2indep

from engine.stats import validate
from engine.stats.intervals import overlap, wilson


@dataclass(frozen=True)
class Comparison:
    rate_a: float
    rate_b: float
    diff_pp: float
    binomial_p_one_sided: float
    fisher_p_two_sided: float
    fisher_p_one_sided: float
    newcombe_low: float
    newcombe_high: float
    ci_overlap: bool

    def to_dict(self) -> dict:
        return asdict(self)


def compare(k_a: int, n_a: int, k_b: int, n_b: int, confidence: float = 0.95) -> Comparison:
    k_a, n_a = validate.counts(k_a, n_a, "A")
    k_b, n_b = validate.counts(k_b, n_b, "B")
    p_a, p_b = k_a / n_a, k_b / n_b
    if p_b >= 1.0:
        binomial = 1.0  # nothing can beat a reference that always succeeded
    else:
        binomial = float(st.binomtest(k_a, n_a, p_b, alternative="greater").pvalue)
    table = [[k_a, n_a - k_a], [k_b, n_b - k_b]]
    fisher_two = float(st.fisher_exact(table, alternative="two-sided").pvalue)
    fisher_one = float(st.fisher_exact(table, alternative="greater").pvalue)
    low, high = confint_proportions_2indep(
        k_a, n_a, k_b, n_b, method="newcomb", compare="diff", alpha=1 - confidence
    )
    return Comparison(
        rate_a=p_a,
        rate_b=p_b,
        diff_pp=100.0 * (p_a - p_b),
        binomial_p_one_sided=binomial,
        fisher_p_two_sided=fisher_two,
        fisher_p_one_sided=fisher_one,
        newcombe_low=float(low),
        newcombe_high=float(high),
        ci_overlap=overlap(wilson(k_a, n_a, confidence), wilson(k_b, n_b, confidence)),
    )
