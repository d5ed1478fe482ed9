"""Paired comparison of two success rates measured on the same seeds.

A skill's evidence compares trials *with* it against trials of the same scene seeds *without*
it, so the two rates are paired: each seed gives one (with, without) pair of final successes.
The interval is Newcombe's (1998) method 10 for paired proportions ("square and add" of the two
Wilson score intervals, with the correction for the correlation between them), which keeps
close to nominal coverage at the small n and extreme rates robot sweeps have; the test is the
exact McNemar test on the discordant pairs (statsmodels). Checked against the published value
in Fagerland, Lydersen & Laake, *Statistical Analysis of Contingency Tables* (2017), ch. 8.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint


@dataclass(frozen=True)
class PairedDifference:
    """(with, without) success pairs on the same seeds: rates, difference, interval, test."""

    n_pairs: int
    both: int
    """Pairs where both succeeded."""
    only_with: int
    """Pairs where only the trial with the skill succeeded."""
    only_without: int
    neither: int
    rate_with: float
    rate_without: float
    diff: float
    """rate_with - rate_without (fractions; the marginal effect of having the skill)."""
    low: float
    high: float
    mcnemar_p: float
    """Exact two-sided McNemar p on the discordant pairs (1.0 when there are none)."""
    confidence: float = 0.95

    def text(self) -> str:
        if not self.n_pairs:
            return "no paired seeds"
        return (
            f"{self.rate_with:.0%} vs {self.rate_without:.0%} on {self.n_pairs} paired "
            f"seed{'s' if self.n_pairs != 1 else ''}: {self.diff * 100:+.1f} pp "
            f"[{self.low * 100:+.1f}, {self.high * 100:+.1f}] · McNemar p {self.mcnemar_p:.3g}"
        )


def _wilson(k: int, n: int, alpha: float) -> tuple[float, float]:
    low, high = proportion_confint(k, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def newcombe_paired(
    a: int, b: int, c: int, d: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(difference, low, high) of p1 - p2 for the paired table [[a, b], [c, d]], where
    p1 = (a + b) / n (row margin) and p2 = (a + c) / n (column margin)."""
    n = a + b + c + d
    if n == 0:
        return 0.0, -1.0, 1.0
    alpha = 1 - confidence
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = _wilson(a + b, n, alpha)
    l2, u2 = _wilson(a + c, n, alpha)
    margins = (a + b, c + d, a + c, b + d)
    psi = 0.0
    if all(margins):
        product = math.prod(margins)
        cross = a * d - b * c
        if cross > n / 2:
            psi = (cross - n / 2) / math.sqrt(product)
        elif cross < 0:
            psi = cross / math.sqrt(product)
    diff = p1 - p2
    low = diff - math.sqrt(
        max(0.0, (p1 - l1) ** 2 - 2 * psi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    )
    high = diff + math.sqrt(
        max(0.0, (u1 - p1) ** 2 - 2 * psi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    )
    return diff, max(-1.0, low), min(1.0, high)


def paired_difference(
    pairs: Iterable[tuple[bool, bool]], confidence: float = 0.95
) -> PairedDifference:
    """The paired comparison of ``pairs`` of (success with, success without)."""
    a = b = c = d = 0
    for with_, without in pairs:
        if with_ and without:
            a += 1
        elif with_:
            b += 1
        elif without:
            c += 1
        else:
            d += 1
    n = a + b + c + d
    diff, low, high = newcombe_paired(a, b, c, d, confidence)
    p = 1.0 if b + c == 0 else float(mcnemar([[a, b], [c, d]], exact=True).pvalue)
    return PairedDifference(
        n_pairs=n,
        both=a,
        only_with=b,
        only_without=c,
        neither=d,
        rate_with=(a + b) / n if n else 0.0,
        rate_without=(a + c) / n if n else 0.0,
        diff=diff,
        low=low,
        high=high,
        mcnemar_p=min(1.0, p),
        confidence=confidence,
    )
