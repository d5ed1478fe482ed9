"""Confidence sequences: closed forms, the martingale property, and the error rate of an
anytime rule against the naive "stop when the Wilson intervals separate", by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
from statsmodels.stats.proportion import proportion_confint

from engine.stats import wilson
from engine.stats.sequential import (
    confidence_sequence,
    contrast_from_pairs,
    crossing_many,
    excludes,
    log_mixture,
    sequential_contrast,
)


@pytest.mark.parametrize("n", [1, 5, 10, 100])
def test_zero_of_n_has_a_closed_form(n: int) -> None:
    # M_n(p) = B(1, n+1) / (1-p)^n = 1 / ((n+1)(1-p)^n) = 1/alpha  =>  p = 1 - (alpha/(n+1))^(1/n)
    cs = confidence_sequence(0, n, 0.05)
    assert cs.low == 0.0
    assert cs.high == pytest.approx(1 - (0.05 / (n + 1)) ** (1 / n), abs=1e-10)
    mirror = confidence_sequence(n, n, 0.05)
    assert mirror.high == 1.0 and mirror.low == pytest.approx(1 - cs.high, abs=1e-10)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.83])
def test_the_mixture_is_a_mean_one_martingale_at_the_true_rate(p: float) -> None:
    # E[M_n(p)] = sum_k C(n,k) p^k (1-p)^(n-k) M_n(p) = sum_k betabinom(n, 1, 1).pmf(k) = 1
    for n in (1, 7, 40):
        total = sum(
            math.comb(n, k) * p**k * (1 - p) ** (n - k) * math.exp(log_mixture(k, n, p))
            for k in range(n + 1)
        )
        assert total == pytest.approx(1.0, abs=1e-9)
        # M_n(p) times the likelihood of one sequence is the beta-binomial mass of it (scipy)
        k = n // 3
        mass = st.betabinom(n, 1, 1).pmf(k) / math.comb(n, k)
        assert math.exp(log_mixture(k, n, p)) * p**k * (1 - p) ** (n - k) == pytest.approx(mass)


def test_bounds_are_where_the_mixture_crosses_one_over_alpha_and_wider_than_wilson() -> None:
    for k, n in [(3, 10), (37, 70), (500, 1000)]:
        cs = confidence_sequence(k, n, 0.05)
        for bound in (cs.low, cs.high):
            assert log_mixture(k, n, bound) == pytest.approx(math.log(20), abs=1e-6)
        assert excludes(k, n, cs.low - 1e-3) and excludes(k, n, cs.high + 1e-3)
        assert not excludes(k, n, k / n)
        w = wilson(k, n)
        assert cs.low < w.low and w.high < cs.high  # the price of looking at every n


def test_contrast_verdicts_in_words() -> None:
    assert sequential_contrast(30, 2, 60).verdict == "better"
    assert sequential_contrast(2, 30, 60).verdict == "worse"
    assert sequential_contrast(10, 2, 40).verdict == "undecided"  # p = 0.0386 at a fixed n
    assert sequential_contrast(3, 3, 400, margin=0.05).verdict == "equivalent"
    assert sequential_contrast(3, 3, 400).verdict == "undecided"  # no margin: no equivalence
    pairs = [(True, False)] * 30 + [(False, True)] * 2 + [(True, True)] * 28
    assert contrast_from_pairs(pairs) == sequential_contrast(30, 2, 60)


SIMS, HORIZON, ALPHA = 2000, 500, 0.05


def _first_verdicts(rate: float, seed: int) -> tuple[float, float]:
    """(naive, anytime) false-verdict rates over SIMS sweeps of two arms with the same true
    ``rate``, looking after every pair up to HORIZON pairs."""
    rng = np.random.default_rng(seed)
    a = rng.random((SIMS, HORIZON)) < rate
    r = rng.random((SIMS, HORIZON)) < rate
    n = np.arange(1, HORIZON + 1)
    ka, kr = a.cumsum(1), r.cumsum(1)
    lo_a, hi_a = proportion_confint(ka, n, alpha=ALPHA, method="wilson")
    lo_r, hi_r = proportion_confint(kr, n, alpha=ALPHA, method="wilson")
    naive = ((lo_a > hi_r) | (lo_r > hi_a)).any(axis=1)
    b, c = (a & ~r).cumsum(1), (r & ~a).cumsum(1)
    anytime = crossing_many(b, b + c, 0.5, ALPHA).any(axis=1)
    # the production verdict agrees with the vectorised crossing, sweep by sweep
    for i in range(0, SIMS, 400):
        decided = any(
            sequential_contrast(int(b[i, t]), int(c[i, t]), t + 1, ALPHA).verdict != "undecided"
            for t in range(0, HORIZON, 25)
        )
        assert not decided or anytime[i]
    return float(naive.mean()), float(anytime.mean())


def test_anytime_rule_holds_alpha_where_stopping_on_separated_wilson_intervals_does_not() -> None:
    for rate, seed in ((0.5, 1), (0.8, 2)):
        naive, anytime = _first_verdicts(rate, seed)
        print(f"true rate {rate}: naive {naive:.4f}, anytime {anytime:.4f}")
        assert anytime <= ALPHA
        assert naive > ALPHA
