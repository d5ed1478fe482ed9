"""Anytime-valid confidence sequences: intervals that may be looked at after every trial.

A 95% Wilson interval covers the rate at one pre-chosen n; looked at after every trial (and
acted on: "stop when the intervals separate"), it is wrong far more often than 5% of the
time (``tests/test_stats_sequential.py`` measures it). A *confidence sequence* covers the
true rate at every n at once with probability >= 1 - alpha, so a sweep may stop whenever it
likes, and the verdict stays valid.

Method: Robbins' beta-binomial mixture martingale (H. Robbins, "Statistical methods related
to the law of the iterated logarithm", Ann. Math. Statist. 41 (1970) 1397-1409; see also
Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence
sequences", Ann. Statist. 49 (2021), section 3.3 and eq. (3.17)). For Bernoulli outcomes with
S successes in n trials and a Beta(a, b) mixing prior,

    M_n(p) = B(a + S, b + n - S) / B(a, b) / (p^S (1 - p)^(n - S))

is a nonnegative martingale with mean 1 when p is the true rate, so by Ville's inequality
P(exists n: M_n(p) >= 1/alpha) <= alpha, and {p : M_n(p) < 1/alpha} is a (1 - alpha)
confidence sequence. It is exact (no normal approximation), an interval (log M_n is convex in
p), and contains the observed rate. We use the uniform prior a = b = 1.

Contrasts between two arms run on the same seeds use the discordant pairs: given a pair is
discordant, A wins it with probability pi, and equal rates mean pi = 1/2. The confidence
sequence of pi (the same mixture over the discordant pairs) excluding 1/2 is an anytime-valid
verdict that one arm is better. The difference of the rates, d = P(A wins a pair) - P(the
reference wins one), gets a confidence sequence from the two Bernoulli sequences "A won the
pair" and "the reference won it", each at alpha/2 (a union bound); equivalence within
+-margin is shown when that whole sequence lies inside (-margin, margin).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import betaln

from engine.stats import validate

PRIOR = (1.0, 1.0)
"""Beta(a, b) mixing prior of the beta-binomial mixture (uniform)."""


@dataclass(frozen=True)
class ConfidenceSequence:
    """The anytime-valid (1 - alpha) bounds of one rate at the current n (fractions)."""

    k: int
    n: int
    rate: float
    low: float
    high: float
    alpha: float

    def to_dict(self) -> dict:
        return asdict(self)


def log_mixture(k: int, n: int, p: float, prior: tuple[float, float] = PRIOR) -> float:
    """log M_n(p) of the beta-binomial mixture (see the module docstring)."""
    a, b = prior
    mix = float(betaln(a + k, b + n - k) - betaln(a, b))
    if p <= 0.0:
        return math.inf if k > 0 else mix
    if p >= 1.0:
        return math.inf if k < n else mix
    return mix - k * math.log(p) - (n - k) * math.log1p(-p)


def confidence_sequence(k: int, n: int, alpha: float = 0.05) -> ConfidenceSequence:
    """The (1 - alpha) confidence sequence of a rate after k successes in n trials (n = 0:
    the whole of [0, 1])."""
    alpha = validate.probability(alpha, "alpha", open_interval=True)
    if n == 0 and k == 0:
        return ConfidenceSequence(0, 0, math.nan, 0.0, 1.0, alpha)
    k, n = validate.counts(k, n)
    threshold = math.log(1.0 / alpha)
    rate = k / n

    def excess(p: float) -> float:
        return log_mixture(k, n, p) - threshold

    # log M_n is convex in p with its minimum (<= 0) at the observed rate, and grows without
    # bound towards 0 (when k > 0) and towards 1 (when k < n): one root on each side.
    low = 0.0 if k == 0 else brentq(excess, 1e-300, rate, xtol=1e-13)
    high = 1.0 if k == n else brentq(excess, rate, 1.0 - 1e-16, xtol=1e-13)
    return ConfidenceSequence(k, n, rate, min(low, rate), max(high, rate), alpha)


def excludes(k: int, n: int, p: float, alpha: float = 0.05) -> bool:
    """Does the confidence sequence after k of n exclude ``p`` (M_n(p) >= 1/alpha)?"""
    return log_mixture(k, n, p) >= math.log(1.0 / alpha)


def crossing_many(ks: np.ndarray, ns: np.ndarray, p: float, alpha: float = 0.05) -> np.ndarray:
    """Vectorised :func:`excludes` (for simulations and live displays): ks, ns same shape."""
    ks = np.asarray(ks, dtype=float)
    ns = np.asarray(ns, dtype=float)
    a, b = PRIOR
    log_m = betaln(a + ks, b + ns - ks) - betaln(a, b) - ks * np.log(p) - (ns - ks) * np.log1p(-p)
    return log_m >= math.log(1.0 / alpha)


# ------------------------------------------------------------------------ contrasts


@dataclass(frozen=True)
class SequentialContrast:
    """Anytime-valid verdict of A against the reference on paired outcomes.

    ``verdict``: "better", "worse", "equivalent" (within +-margin) or "undecided"."""

    n_pairs: int
    b: int  # pairs A won
    c: int  # pairs the reference won
    share_low: float  # confidence sequence of b / (b + c); 1/2 means equal rates
    share_high: float
    diff: float  # (b - c) / n_pairs
    diff_low: float  # confidence sequence of p_A - p_ref
    diff_high: float
    alpha: float
    margin: float
    verdict: str

    @property
    def decided(self) -> bool:
        return self.verdict != "undecided"

    def to_dict(self) -> dict:
        return asdict(self)


def sequential_contrast(
    b: int, c: int, n_pairs: int, alpha: float = 0.05, margin: float = 0.0
) -> SequentialContrast:
    """The anytime-valid verdict after ``n_pairs`` pairs, ``b`` won by A and ``c`` by the
    reference (``margin`` 0: no equivalence claim is made)."""
    alpha = validate.probability(alpha, "alpha", open_interval=True)
    if margin:
        margin = validate.margin(margin)
    share = confidence_sequence(b, b + c, alpha)
    if n_pairs == 0:
        return SequentialContrast(0, 0, 0, 0.0, 1.0, 0.0, -1.0, 1.0, alpha, margin, "undecided")
    won = confidence_sequence(b, n_pairs, alpha / 2)
    lost = confidence_sequence(c, n_pairs, alpha / 2)
    low, high = max(-1.0, won.low - lost.high), min(1.0, won.high - lost.low)
    if share.low > 0.5:
        verdict = "better"
    elif share.high < 0.5:
        verdict = "worse"
    elif margin and -margin < low and high < margin:
        verdict = "equivalent"
    else:
        verdict = "undecided"
    return SequentialContrast(
        n_pairs, b, c, share.low, share.high, (b - c) / n_pairs, low, high, alpha, margin, verdict
    )


def contrast_from_pairs(
    pairs: Sequence[tuple[bool, bool]], alpha: float = 0.05, margin: float = 0.0
) -> SequentialContrast:
    """:func:`sequential_contrast` of (A succeeded, reference succeeded) pairs."""
    b = sum(a and not r for a, r in pairs)
    c = sum(r and not a for a, r in pairs)
    return sequential_contrast(b, c, len(pairs), alpha, margin)
