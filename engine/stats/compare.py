"""Comparing a condition A with a reference condition B (the study's battery of tests).

Direction: ``alternative`` chooses what ``binomial_p`` and ``fisher_p`` test: ``greater``
(A better than B, the default), ``less`` (A worse: the direction of the study's p-values for the
curated-9 library against its own, 42/50 vs 47/50 gives 0.009) or ``two-sided``. A small p is
evidence for that alternative; a p near 1 says nothing about the opposite one. The
``*_one_sided`` fields always test ``greater``, whatever ``alternative`` is.

* Exact binomial test (``scipy.stats.binomtest``, ``alternative="greater"``): P(X >= k_A) for
  X ~ Binomial(n_A, p_B), with B's *observed* rate taken as the truth. It ignores B's own
  sampling error, so it is anti-conservative unless n_B is much larger than n_A; Fisher's test
  below accounts for both arms. At the edges it is still well defined: p_B = 1 gives p = 1
  (nothing can beat a rate of 1) and p_B = 0 gives p = 1 if k_A = 0, else p = 0.
* Fisher's exact test (``scipy.stats.fisher_exact``) on the 2x2 table
  [[k_A, n_A - k_A], [k_B, n_B - k_B]]: two-sided, and one-sided ``greater`` (odds of success
  higher in A), conditioning on both margins.
* Newcombe's hybrid score interval (method 10 of Newcombe 1998; statsmodels
  ``confint_proportions_2indep(method="newcomb")``) for p_A - p_B, built from the two Wilson
  intervals; good coverage even at 0/n and n/n.
* Whether the two Wilson intervals overlap (a blunt, conservative check shown for readers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import scipy.stats as st
from statsmodels.stats.proportion import confint_proportions_2indep

from engine.errors import UserError
from engine.stats import validate
from engine.stats.intervals import overlap, wilson

ALTERNATIVES = ("greater", "less", "two-sided")


@dataclass(frozen=True)
class Comparison:
    """A vs reference B. Rates and Newcombe bounds are fractions; ``diff_pp`` is in points."""

    rate_a: float
    rate_b: float
    diff_pp: float  # 100 * (rate_a - rate_b)
    alternative: str
    binomial_p: float  # exact binomial test of A against B's observed rate, H1: ``alternative``
    fisher_p: float  # Fisher's exact test, H1: ``alternative``
    binomial_p_one_sided: float  # H1: A's rate > B's observed rate
    fisher_p_two_sided: float
    fisher_p_one_sided: float  # H1: A's odds of success > B's
    newcombe_low: float  # bounds of p_A - p_B, in [-1, 1]
    newcombe_high: float
    ci_overlap: bool

    def to_dict(self) -> dict:
        return asdict(self)


def compare(
    k_a: int,
    n_a: int,
    k_b: int,
    n_b: int,
    confidence: float = 0.95,
    alternative: str = "greater",
) -> Comparison:
    """Compare k_a/n_a with the reference k_b/n_b (see the module docstring for each test).

    ``confidence`` applies to the Newcombe interval and to the Wilson intervals whose overlap
    is reported; the p-values do not depend on it.
    """
    k_a, n_a = validate.counts(k_a, n_a, "A")
    k_b, n_b = validate.counts(k_b, n_b, "B")
    confidence = validate.probability(confidence, "confidence", open_interval=True)
    if alternative not in ALTERNATIVES:
        raise UserError(
            f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}"
        )
    p_a, p_b = k_a / n_a, k_b / n_b
    binomial = st.binomtest(k_a, n_a, p_b, alternative="greater").pvalue
    table = [[k_a, n_a - k_a], [k_b, n_b - k_b]]
    fisher_two = st.fisher_exact(table, alternative="two-sided").pvalue
    fisher_one = st.fisher_exact(table, alternative="greater").pvalue
    chosen_binomial = st.binomtest(k_a, n_a, p_b, alternative=alternative).pvalue
    chosen_fisher = st.fisher_exact(table, alternative=alternative).pvalue
    low, high = confint_proportions_2indep(
        k_a, n_a, k_b, n_b, method="newcomb", compare="diff", alpha=1 - confidence
    )
    return Comparison(
        rate_a=p_a,
        rate_b=p_b,
        diff_pp=100.0 * (p_a - p_b),
        alternative=alternative,
        binomial_p=float(chosen_binomial),
        fisher_p=float(chosen_fisher),
        binomial_p_one_sided=float(binomial),
        fisher_p_two_sided=float(fisher_two),
        fisher_p_one_sided=float(fisher_one),
        newcombe_low=float(low),
        newcombe_high=float(high),
        ci_overlap=overlap(wilson(k_a, n_a, confidence), wilson(k_b, n_b, confidence)),
    )
