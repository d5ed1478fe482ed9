"""Statistics against independently obtained values: published tables, scipy vs statsmodels,
and closed forms evaluated here with scipy.stats distributions."""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
import warnings

import numpy as np
import pytest
import scipy.stats as st
from statsmodels.stats.proportion import confint_proportions_2indep

from engine.cli import main
from engine.errors import UserError
from engine.stats import compare, n_needed, tost, wilson, wilson_many
from engine.stats.summary import live_summary
from engine.store.reader import SessionReader

# --- Wilson intervals --------------------------------------------------------------------------

# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3
# (Wilson score, no continuity correction), plus the 0/10 and 10/10 edges.
NEWCOMBE_WILSON = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (0, 10, 0.0000, 0.2775),
    (10, 10, 0.7225, 1.0000),
]


@pytest.mark.parametrize("k, n, low, high", NEWCOMBE_WILSON)
def test_wilson_matches_newcombe_table(k: int, n: int, low: float, high: float) -> None:
    r = wilson(k, n)
    assert (r.k, r.n, r.rate) == (k, n, k / n)
    assert (round(r.low, 4), round(r.high, 4)) == (low, high)


def test_wilson_edges_are_exact() -> None:
    assert wilson(0, 10).low == 0.0
    assert wilson(10, 10).high == pytest.approx(1.0, abs=1e-12)
    assert wilson(0, 10).high == pytest.approx(1 - wilson(10, 10).low)  # symmetric


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_wilson_statsmodels_agrees_with_scipy(confidence: float) -> None:
    for k, n in [(0, 10), (10, 10), (1, 1), (37, 70), (199, 200), (5, 1000)]:
        ci = st.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
        got = wilson(k, n, confidence)
        assert got.low == pytest.approx(ci.low, abs=1e-12)
        assert got.high == pytest.approx(ci.high, abs=1e-12)


def test_wilson_closed_form_at_ninety_percent() -> None:
    # (p + z^2/2n ± z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    z = st.norm.ppf(0.95)
    k, n = 7, 20
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    r = wilson(k, n, confidence=0.90)
    assert r.low == pytest.approx(centre - half) and r.high == pytest.approx(centre + half)
    assert wilson(k, n, 0.99).high - wilson(k, n, 0.99).low > r.high - r.low


def test_vectorised_intervals_match_the_scalar_ones() -> None:
    rng = np.random.default_rng(0)
    ns = rng.integers(0, 200, 100_000)
    ks = (rng.random(100_000) * (ns + 1)).astype(int)  # 0..n inclusive
    for confidence in (0.95, 0.9):
        low, high = wilson_many(ks, ns, confidence)
        assert low.shape == high.shape == (100_000,)
        assert np.isnan(low[ns == 0]).all() and np.isnan(high[ns == 0]).all()
        assert not np.isnan(low[ns > 0]).any()
        for i in rng.choice(np.flatnonzero(ns > 0), 200, replace=False):
            r = wilson(int(ks[i]), int(ns[i]), confidence)
            assert low[i] == pytest.approx(r.low, abs=1e-12)
            assert high[i] == pytest.approx(r.high, abs=1e-12)


def test_vectorised_intervals_give_nan_for_impossible_counts() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # masked, not computed into NaN with a RuntimeWarning
        low, high = wilson_many([3, -1, 5, 2, np.nan], [0, 4, 4, 4, 4])
    assert np.isnan(low[:3]).all() and np.isnan(high[:3]).all() and np.isnan(low[4])
    assert (low[3], high[3]) == pytest.approx((wilson(2, 4).low, wilson(2, 4).high))
    with pytest.raises(UserError, match="same shape"):
        wilson_many([1, 2], [3])
    with pytest.raises(UserError, match="confidence"):
        wilson_many([1], [3], confidence=95)


# --- comparing two arms ------------------------------------------------------------------------

# Newcombe (1998), "Interval estimation for the difference between independent proportions",
# Table II, method 10 (hybrid score), examples (a)-(h).
NEWCOMBE_DIFF = [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
    (10, 10, 0, 10, 0.6075, 1.0000),
]


@pytest.mark.parametrize("k_a, n_a, k_b, n_b, low, high", NEWCOMBE_DIFF)
def test_newcombe_interval_matches_the_paper(k_a, n_a, k_b, n_b, low, high) -> None:
    c = compare(k_a, n_a, k_b, n_b)
    assert c.diff_pp == pytest.approx(100 * (k_a / n_a - k_b / n_b))
    assert (round(c.newcombe_low, 4), round(c.newcombe_high, 4)) == (low, high)


def test_newcombe_is_built_from_the_two_wilson_intervals() -> None:
    # Newcombe's definition, from scipy's Wilson intervals: d - sqrt((pA-lA)^2 + (uB-pB)^2) etc.
    for k_a, n_a, k_b, n_b in [(17, 40, 30, 45), (3, 12, 9, 11), (88, 100, 90, 100)]:
        pa, pb = k_a / n_a, k_b / n_b
        a = st.binomtest(k_a, n_a).proportion_ci(method="wilson")
        b = st.binomtest(k_b, n_b).proportion_ci(method="wilson")
        d = pa - pb
        c = compare(k_a, n_a, k_b, n_b)
        assert c.newcombe_low == pytest.approx(d - math.hypot(pa - a.low, b.high - pb))
        assert c.newcombe_high == pytest.approx(d + math.hypot(a.high - pa, pb - b.low))


def _fisher_two_sided(k_a: int, n_a: int, k_b: int, n_b: int) -> float:
    """Sum of hypergeometric probabilities of all tables no more likely than the observed one."""
    dist = st.hypergeom(n_a + n_b, k_a + k_b, n_a)
    observed = dist.pmf(k_a)
    support = range(max(0, k_a + k_b - n_b), min(n_a, k_a + k_b) + 1)
    return sum(dist.pmf(x) for x in support if dist.pmf(x) <= observed * (1 + 1e-7))


@pytest.mark.parametrize(
    "k_a, n_a, k_b, n_b",
    [(8, 10, 4, 10), (3, 10, 7, 10), (56, 70, 48, 80), (1, 9, 11, 14), (10, 10, 0, 10)],
)
def test_exact_tests_agree_with_independent_computation(k_a, n_a, k_b, n_b) -> None:
    c = compare(k_a, n_a, k_b, n_b)
    # one-sided binomial, A better: P(X >= k_a) for X ~ Binomial(n_a, p_b)
    assert c.binomial_p_one_sided == pytest.approx(st.binom.sf(k_a - 1, n_a, k_b / n_b))
    # Fisher one-sided, A better: P(A's successes >= k_a) with both margins fixed
    total, successes = n_a + n_b, k_a + k_b
    assert c.fisher_p_one_sided == pytest.approx(st.hypergeom.sf(k_a - 1, total, successes, n_a))
    assert c.fisher_p_two_sided == pytest.approx(_fisher_two_sided(k_a, n_a, k_b, n_b))


def test_one_sided_tests_point_towards_a_being_better() -> None:
    better, worse = compare(9, 10, 2, 10), compare(2, 10, 9, 10)
    assert better.binomial_p_one_sided < 0.01 and better.fisher_p_one_sided < 0.01
    assert worse.binomial_p_one_sided > 0.99 and worse.fisher_p_one_sided > 0.99
    assert better.fisher_p_two_sided == pytest.approx(worse.fisher_p_two_sided)
    assert better.diff_pp == pytest.approx(70.0) and worse.diff_pp == pytest.approx(-70.0)


def test_binomial_test_with_reference_rate_zero_or_one() -> None:
    assert compare(10, 10, 10, 10).binomial_p_one_sided == 1.0  # nothing beats a rate of 1
    assert compare(3, 10, 5, 5).binomial_p_one_sided == 1.0
    assert compare(0, 10, 0, 10).binomial_p_one_sided == 1.0  # 0 successes: always >= 0
    assert compare(1, 10, 0, 10).binomial_p_one_sided == 0.0  # impossible at a rate of 0


def test_overlap_of_the_wilson_intervals() -> None:
    assert compare(9, 10, 0, 10).ci_overlap is False
    assert compare(0, 10, 9, 10).ci_overlap is False
    assert compare(5, 10, 6, 10).ci_overlap is True
    # 56/70 vs 48/80: significant by Fisher, yet the two Wilson intervals still overlap
    c = compare(56, 70, 48, 80)
    assert c.fisher_p_two_sided < 0.05 and c.ci_overlap is True
    assert wilson(56, 70).low < wilson(48, 80).high


def test_every_small_table_gives_finite_sane_numbers() -> None:
    cells = [(k, n) for n in (1, 2, 3, 5, 8) for k in range(n + 1)]
    for (k_a, n_a), (k_b, n_b) in itertools.product(cells, cells):
        c = compare(k_a, n_a, k_b, n_b)
        e = tost(k_a, n_a, k_b, n_b, margin=0.1)
        for value in (*c.to_dict().values(), *e.to_dict().values()):
            assert not isinstance(value, float) or math.isfinite(value), (k_a, n_a, k_b, n_b)
        for p in (c.binomial_p_one_sided, c.fisher_p_one_sided, c.fisher_p_two_sided, e.p_value):
            assert 0.0 <= p <= 1.0
        d = k_a / n_a - k_b / n_b
        assert -1.0 <= c.newcombe_low <= d + 1e-12 and d - 1e-12 <= c.newcombe_high <= 1.0


# --- equivalence -------------------------------------------------------------------------------


def _agresti_caffo_tost(k_a, n_a, k_b, n_b, margin):
    """TOST p-values with one success and one failure added to each arm, by hand."""
    pa, pb = (k_a + 1) / (n_a + 2), (k_b + 1) / (n_b + 2)
    se = math.sqrt(pa * (1 - pa) / (n_a + 2) + pb * (1 - pb) / (n_b + 2))
    p_lower = st.norm.sf((pa - pb + margin) / se)  # H1: diff > -margin
    p_upper = st.norm.cdf((pa - pb - margin) / se)  # H1: diff < +margin
    return p_lower, p_upper


@pytest.mark.parametrize(
    "k_a, n_a, k_b, n_b, margin",
    [
        (900, 1000, 905, 1000, 0.05),
        (70, 100, 90, 100, 0.05),
        (0, 10, 0, 10, 0.05),
        (45, 50, 40, 50, 0.1),
    ],
)
def test_tost_matches_hand_computation(k_a, n_a, k_b, n_b, margin) -> None:
    e = tost(k_a, n_a, k_b, n_b, margin=margin)
    p_lower, p_upper = _agresti_caffo_tost(k_a, n_a, k_b, n_b, margin)
    assert e.p_lower == pytest.approx(p_lower, rel=1e-9, abs=1e-300)
    assert e.p_upper == pytest.approx(p_upper, rel=1e-9, abs=1e-300)
    assert e.p_value == max(e.p_lower, e.p_upper)
    assert e.diff == pytest.approx(k_a / n_a - k_b / n_b) and e.margin == margin


def test_tost_verdicts() -> None:
    same = tost(900, 1000, 905, 1000, margin=0.05)
    assert same.equivalent and same.verdict == "equivalent" and same.p_value < 0.05
    far = tost(70, 100, 90, 100, margin=0.05)
    assert not far.equivalent and far.verdict == "not shown equivalent"
    # ten trials at the floor in both arms prove nothing (a Wald test would say p = 0 here)
    assert not tost(0, 10, 0, 10, margin=0.05).equivalent
    assert not tost(10, 10, 10, 10, margin=0.05).equivalent
    assert tost(1000, 1000, 1000, 1000, margin=0.05).equivalent
    # a stricter alpha can only withdraw a verdict
    assert not tost(900, 1000, 905, 1000, margin=0.05, alpha=1e-5).equivalent


def test_tost_verdict_is_strictly_p_below_alpha() -> None:
    p = tost(45, 50, 40, 50, margin=0.1).p_value
    assert 0.01 < p < 0.5
    assert not tost(45, 50, 40, 50, margin=0.1, alpha=p).equivalent
    assert tost(45, 50, 40, 50, margin=0.1, alpha=p * 1.001).equivalent


def test_tost_directions() -> None:
    a_much_better = tost(95, 100, 60, 100, margin=0.05)
    assert a_much_better.p_lower < 1e-6 and a_much_better.p_upper > 0.99
    a_much_worse = tost(60, 100, 95, 100, margin=0.05)
    assert a_much_worse.p_lower > 0.99 and a_much_worse.p_upper < 1e-6


def test_tost_is_dual_to_the_ninety_percent_interval() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        n_a, n_b = (int(x) for x in rng.integers(5, 400, 2))
        k_a, k_b = int(rng.integers(0, n_a + 1)), int(rng.integers(0, n_b + 1))
        margin = float(rng.choice([0.02, 0.05, 0.1, 0.2]))
        e = tost(k_a, n_a, k_b, n_b, margin=margin)
        low, high = confint_proportions_2indep(
            k_a, n_a, k_b, n_b, method="agresti-caffo", alpha=0.10
        )
        assert math.isfinite(e.p_value)
        assert e.equivalent == (-margin < low and high < margin), (k_a, n_a, k_b, n_b, margin)


def test_tost_has_no_nan_where_the_statsmodels_score_method_does() -> None:
    # statsmodels issue #10269: the score method returns NaN for this table.
    e = tost(11, 56, 62, 344, margin=0.2)
    assert math.isfinite(e.p_lower) and math.isfinite(e.p_upper)


# --- sample size -------------------------------------------------------------------------------


def _normal_power(h: float, n: int, alpha: float) -> float:
    """Two-sided z-test power with n per arm: Var(2 asin sqrt(p_hat)) = 1/n per arm."""
    z = st.norm.isf(alpha / 2)
    shift = h * math.sqrt(n / 2)
    return st.norm.cdf(shift - z) + st.norm.cdf(-shift - z)


def _h(p_a: float, p_b: float) -> float:
    return abs(2 * math.asin(math.sqrt(p_a)) - 2 * math.asin(math.sqrt(p_b)))


def test_sample_size_for_ninety_versus_ninety_seven() -> None:
    r = n_needed(0.90, 0.97)
    expected = 2 * ((st.norm.ppf(0.975) + st.norm.ppf(0.8)) / _h(0.9, 0.97)) ** 2
    assert r.n_per_arm == math.ceil(expected) == 180
    assert (r.p_a, r.p_b, r.power, r.alpha) == (0.9, 0.97, 0.8, 0.05)
    assert n_needed(0.97, 0.90).n_per_arm == 180


@pytest.mark.parametrize(
    "p_a, p_b, power, alpha",
    [(0.9, 0.97, 0.8, 0.05), (0.5, 0.6, 0.9, 0.01), (0.2, 0.21, 0.8, 0.05), (0.0, 1.0, 0.8, 0.05)],
)
def test_sample_size_is_the_smallest_whole_number_reaching_the_power(p_a, p_b, power, alpha):
    n = n_needed(p_a, p_b, power, alpha).n_per_arm
    h = _h(p_a, p_b)
    assert _normal_power(h, n, alpha) >= power
    assert n == 1 or _normal_power(h, n - 1, alpha) < power


def test_sample_size_known_value_and_monotonicity() -> None:
    # Cohen (1988) Table 6.4.1: h = 0.20, two-sided alpha .05, power .80 -> 392 per group
    # (his table rounds; the unrounded value is 392.4).
    p = math.sin((2 * math.asin(math.sqrt(0.5)) + 0.2) / 2) ** 2
    assert n_needed(0.5, p).n_per_arm in (392, 393)
    assert (
        n_needed(0.5, 0.9).n_per_arm < n_needed(0.5, 0.7).n_per_arm < n_needed(0.5, 0.6).n_per_arm
    )
    powers = [n_needed(0.9, 0.97, power=w).n_per_arm for w in (0.5, 0.8, 0.9, 0.99)]
    assert powers == sorted(powers) and len(set(powers)) == 4
    assert n_needed(0.9, 0.97, alpha=0.01).n_per_arm > 180
    assert n_needed(0.0, 1.0).n_per_arm == 2  # statsmodels' solve_power alone returns NaN here


# --- degenerate input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: wilson(1, 0), "n must be at least 1, got 0"),
        (lambda: wilson(0, -3), "n must be at least 1, got -3"),
        (lambda: wilson(5, 3), "k (5) cannot exceed n (3)"),
        (lambda: wilson(-1, 3), "k must not be negative, got -1"),
        (lambda: wilson(1.5, 3), "k must be a whole number, got 1.5"),
        (lambda: wilson(1, 3.5), "n must be a whole number, got 3.5"),
        (lambda: wilson("1", 3), "k must be a whole number, got '1'"),
        (lambda: wilson(True, 3), "k must be a whole number, got True"),
        (lambda: wilson(1, float("inf")), "n must be a whole number, got inf"),
        (lambda: wilson(1, 3, confidence=1.0), "confidence must be strictly between 0 and 1"),
        (lambda: wilson(1, 3, confidence=0), "confidence must be strictly between 0 and 1"),
        (lambda: wilson(1, 3, confidence=95), "confidence must be strictly between 0 and 1"),
        (lambda: wilson(1, 3, confidence=float("nan")), "confidence must be a number"),
        (lambda: compare(1, 2, 3, 2), "k for B (3) cannot exceed n (2)"),
        (lambda: compare(1, 0, 1, 2), "n for A must be at least 1"),
        (lambda: compare(1, 2, 1, 2, confidence=1.5), "confidence must be strictly between"),
        (lambda: tost(1, 2, 1, 2, margin=0), "margin must be a fraction"),
        (lambda: tost(1, 2, 1, 2, margin=-0.05), "got -0.05"),
        (lambda: tost(1, 2, 1, 2, margin=1.0), "margin must be a fraction"),
        (lambda: tost(1, 2, 1, 2, margin=float("nan")), "margin must be a fraction"),
        (lambda: tost(1, 2, 1, 2, margin=0.05, alpha=0), "alpha must be strictly between"),
        (lambda: tost(-1, 2, 1, 2, margin=0.05), "k for A must not be negative"),
        (lambda: n_needed(0.5, 0.5), "are equal"),
        (lambda: n_needed(1.2, 0.5), "P_A must be between 0 and 1, got 1.2"),
        (lambda: n_needed(0.5, -0.1), "P_B must be between 0 and 1, got -0.1"),
        (lambda: n_needed(0.5, 0.6, power=1.0), "power must be strictly between 0 and 1"),
        (lambda: n_needed(0.5, 0.6, alpha=1.0), "alpha must be strictly between 0 and 1"),
        (lambda: n_needed(0.5, 0.6, power=0.04), "power (0.04) must be greater than alpha"),
    ],
)
def test_degenerate_inputs_are_clear_errors(call, message) -> None:
    with pytest.raises(UserError) as info:
        call()
    text = str(info.value)
    assert message in text and "\n" not in text


# --- live summary ------------------------------------------------------------------------------


def test_live_summary_of_a_hundred_thousand_trials(tmp_path) -> None:
    from engine.store.writer import SessionWriter

    db = tmp_path / "s.db"
    SessionWriter(db).close()
    conn = sqlite3.connect(db)
    rng = np.random.default_rng(1)
    rows = [
        (
            f"r0/{c}/syn/{i:06d}",
            i,
            c,
            "syn",
            i,
            "done",
            int(rng.random() < p),
            int(rng.random() < p + 0.05),
            0.0,
        )
        for c, p in (("P21_a", 0.6), ("C2", 0.75))
        for i in range(50_000)
    ]
    with conn:
        conn.executemany(
            "INSERT INTO trials (trial_key, trial_index, condition, backbone, seed, status, final_success, "
            "any_success, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    summary = {s.condition: s for s in live_summary(SessionReader.over(conn))}
    c2 = summary["C2"]
    assert c2.n == 50_000 and c2.k == sum(r[6] for r in rows if r[2] == "C2")
    assert (c2.low, c2.high) == pytest.approx((wilson(c2.k, c2.n).low, wilson(c2.k, c2.n).high))
    assert c2.low < c2.rate < c2.high and c2.high - c2.low < 0.01


# --- command line ------------------------------------------------------------------------------


def _strict_json(text: str) -> dict:
    """One JSON object on one line, rejecting NaN/Infinity (which strict parsers refuse)."""
    lines = text.splitlines()
    assert len(lines) == 1, text

    def reject(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(lines[0], parse_constant=reject)


def test_cli_json_outputs_have_stable_keys(capsys) -> None:
    assert main(["stats", "ci", "81", "263", "--json"]) == 0
    ci = _strict_json(capsys.readouterr().out)
    assert ci.keys() == {"k", "n", "rate", "low", "high"}
    assert (ci["k"], ci["n"], round(ci["low"], 4), round(ci["high"], 4)) == (
        81,
        263,
        0.2553,
        0.3662,
    )

    assert main(["stats", "ci", "7", "20", "--confidence", "0.9", "--json"]) == 0
    assert _strict_json(capsys.readouterr().out)["low"] == pytest.approx(wilson(7, 20, 0.9).low)

    assert main(["stats", "compare", "56", "70", "48", "80", "--json"]) == 0
    cmp_ = _strict_json(capsys.readouterr().out)
    assert cmp_.keys() == {
        "rate_a",
        "rate_b",
        "diff_pp",
        "alternative",
        "binomial_p",
        "fisher_p",
        "binomial_p_one_sided",
        "fisher_p_two_sided",
        "fisher_p_one_sided",
        "newcombe_low",
        "newcombe_high",
        "ci_overlap",
    }
    assert cmp_["diff_pp"] == pytest.approx(20.0) and cmp_["ci_overlap"] is True
    assert (round(cmp_["newcombe_low"], 4), round(cmp_["newcombe_high"], 4)) == (0.0524, 0.3339)

    assert main(["stats", "equiv", "900", "1000", "905", "1000", "--margin", "0.05", "--json"]) == 0
    eq = _strict_json(capsys.readouterr().out)
    assert eq.keys() == {
        "diff",
        "margin",
        "alpha",
        "p_value",
        "p_lower",
        "p_upper",
        "equivalent",
        "verdict",
    }
    assert eq["equivalent"] is True and eq["margin"] == 0.05 and eq["alpha"] == 0.05

    assert main(["stats", "n-needed", "0.9", "0.97", "--json"]) == 0
    nn = _strict_json(capsys.readouterr().out)
    assert nn == {"p_a": 0.9, "p_b": 0.97, "power": 0.8, "alpha": 0.05, "n_per_arm": 180}


def test_cli_text_outputs(capsys) -> None:
    assert main(["stats", "ci", "7", "10"]) == 0
    assert "Wilson 95% interval [39.7%, 89.2%]" in capsys.readouterr().out
    assert main(["stats", "compare", "56", "70", "48", "80"]) == 0
    assert "+20.0 pp" in capsys.readouterr().out
    assert main(["stats", "equiv", "0", "10", "0", "10", "--margin", "0.05"]) == 0
    assert "not shown equivalent" in capsys.readouterr().out
    assert main(["stats", "n-needed", "0.9", "0.97"]) == 0
    assert capsys.readouterr().out.startswith("180 trials per arm")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ci", "11", "10"], "k (11) cannot exceed n (10)"),
        (["ci", "7", "0"], "n must be at least 1, got 0"),
        (["ci", "-1", "10"], "k must not be negative, got -1"),
        (["ci", "7", "10", "--confidence", "1.5"], "confidence must be strictly between 0 and 1"),
        (["compare", "1", "2", "3", "2"], "k for B (3) cannot exceed n (2)"),
        (["equiv", "1", "2", "1", "2", "--margin", "0"], "margin must be a fraction"),
        (["n-needed", "0.5", "0.5"], "are equal"),
        (["n-needed", "1.5", "0.5"], "P_A must be between 0 and 1, got 1.5"),
    ],
)
def test_cli_bad_values_are_one_line(capsys, argv, message) -> None:
    assert main(["stats", *argv, "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("autocapx: error: ") and message in out.err
    assert out.err.count("\n") == 1 and out.err.endswith("\n")


@pytest.mark.parametrize(
    "argv",
    [
        ["ci", "abc", "10"],
        ["ci", "7.5", "10"],
        ["n-needed", "x", "0.5"],
        ["equiv", "1", "2", "1", "2"],
    ],
)
def test_cli_unparsable_arguments_exit_two_without_traceback(capsys, argv) -> None:
    with pytest.raises(SystemExit) as info:
        main(["stats", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.splitlines()[-1].startswith("autocapx stats")


def test_cli_never_prints_nan_as_json(capsys, monkeypatch) -> None:
    import engine.stats
    from engine.stats.intervals import Interval

    monkeypatch.setattr(engine.stats, "wilson", lambda k, n, c: Interval(k, n, 0.5, math.nan, 1.0))
    assert main(["stats", "ci", "1", "2", "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == "autocapx: error: not defined for these counts: low\n"


def test_compare_tests_either_direction_like_the_study(capsys) -> None:
    """The study's NVIDIA-9 p-value: 42/50 against 47/50, alternative 'less', p = 0.009."""
    assert (
        main(["stats", "compare", "42", "50", "47", "50", "--alternative", "less", "--json"]) == 0
    )
    out = _strict_json(capsys.readouterr().out)
    assert out["alternative"] == "less" and round(out["binomial_p"], 3) == 0.009
    assert out["binomial_p"] == pytest.approx(st.binom.cdf(42, 50, 47 / 50))  # P(X <= 42)
    # Fisher 'less' = P(at most 42 of A's 50 among the 89 successes), hypergeometric
    assert out["fisher_p"] == pytest.approx(st.hypergeom.cdf(42, 100, 89, 50))
    assert out["binomial_p_one_sided"] == pytest.approx(st.binom.sf(41, 50, 47 / 50))  # greater
    both = compare(42, 50, 47, 50, alternative="two-sided")
    assert both.fisher_p == pytest.approx(both.fisher_p_two_sided)
    with pytest.raises(SystemExit) as bad:  # argparse refuses it in one line
        main(["stats", "compare", "1", "2", "1", "2", "--alternative", "up"])
    assert bad.value.code == 2
