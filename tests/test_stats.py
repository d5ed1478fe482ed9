"""Statistics against independently computed values (textbooks, and scipy vs statsmodels)."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest
import scipy.stats as st

from engine.cli import main
from engine.errors import UserError
from engine.stats import compare, n_needed, tost, wilson, wilson_many
from engine.stats.summary import live_summary


def test_wilson_matches_the_textbook_and_scipy() -> None:
    # Newcombe (1998) / Agresti–Coull worked example: 81/263.
    r = wilson(81, 263)
    assert (round(r.low, 4), round(r.high, 4)) == (0.2553, 0.3662)
    for k, n in [(0, 10), (10, 10), (1, 1), (37, 70), (199, 200)]:
        ci = st.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        got = wilson(k, n)
        assert got.low == pytest.approx(ci.low, abs=1e-9) and got.high == pytest.approx(
            ci.high, abs=1e-9
        )
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == pytest.approx(1.0)
    # closed form at 90%: p + z^2/2n ± z sqrt(p(1-p)/n + z^2/4n^2), over 1 + z^2/n
    z = st.norm.ppf(0.95)
    k, n = 7, 20
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    r90 = wilson(k, n, confidence=0.90)
    assert r90.low == pytest.approx(centre - half) and r90.high == pytest.approx(centre + half)


def test_newcombe_difference_interval_matches_the_paper() -> None:
    # Newcombe (1998) Table II, example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339 (method 10).
    c = compare(56, 70, 48, 80)
    assert round(c.diff_pp, 2) == 20.0
    assert (round(c.newcombe_low, 4), round(c.newcombe_high, 4)) == (0.0524, 0.3339)


def test_exact_tests_agree_with_independent_computation() -> None:
    c = compare(8, 10, 4, 10)
    # one-sided binomial: P(X >= 8 | n=10, p=0.4)
    assert c.binomial_p_one_sided == pytest.approx(st.binom.sf(7, 10, 0.4))
    # Fisher via the hypergeometric distribution
    one_sided = st.hypergeom.sf(7, 20, 12, 10)
    assert c.fisher_p_one_sided == pytest.approx(one_sided)
    from statsmodels.stats.contingency_tables import Table2x2

    assert c.fisher_p_two_sided == pytest.approx(st.fisher_exact([[8, 2], [4, 6]])[1])
    assert 0 < c.fisher_p_two_sided < 1 and Table2x2(
        np.array([[8, 2], [4, 6]])
    ).oddsratio == pytest.approx(6.0)
    assert compare(10, 10, 10, 10).binomial_p_one_sided == 1.0  # reference already perfect
    assert compare(9, 10, 0, 10).ci_overlap is False and compare(5, 10, 6, 10).ci_overlap is True


def test_tost_equivalence() -> None:
    same = tost(900, 1000, 905, 1000, margin=0.05)
    assert same.equivalent and same.verdict == "equivalent" and same.p_value < 0.05
    far = tost(70, 100, 90, 100, margin=0.05)
    assert not far.equivalent and far.verdict == "not shown equivalent"
    assert far.p_value == max(far.p_lower, far.p_upper)


def test_sample_size_for_ninety_versus_ninety_seven() -> None:
    r = n_needed(0.90, 0.97)
    h = abs(2 * math.asin(math.sqrt(0.97)) - 2 * math.asin(math.sqrt(0.90)))
    # Var(2 asin sqrt(p_hat)) = 1/n per arm, so the difference of two arms has variance 2/n
    # (Cohen's h; his table gives 392 per group for h = 0.2 at alpha .05, power .8).
    expected = 2 * ((st.norm.ppf(0.975) + st.norm.ppf(0.8)) / h) ** 2
    assert r.n_per_arm == math.ceil(expected) == 180
    h02 = n_needed(0.5, math.sin((2 * math.asin(math.sqrt(0.5)) + 0.2) / 2) ** 2)
    assert h02.n_per_arm in (392, 393)
    assert n_needed(0.5, 0.9).n_per_arm < n_needed(0.5, 0.6).n_per_arm
    assert n_needed(0.9, 0.97, power=0.9).n_per_arm > r.n_per_arm


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: wilson(1, 0), "n must be at least 1"),
        (lambda: wilson(5, 3), "k (5) cannot exceed n (3)"),
        (lambda: wilson(-1, 3), "k must not be negative"),
        (lambda: wilson(1.5, 3), "k must be a whole number"),
        (lambda: wilson(1, 3, confidence=1.0), "confidence must be strictly between 0 and 1"),
        (lambda: compare(1, 2, 3, 2), "k for B (3) cannot exceed n (2)"),
        (lambda: tost(1, 2, 1, 2, margin=0), "margin must be a fraction"),
        (lambda: n_needed(0.5, 0.5), "are equal"),
        (lambda: n_needed(1.2, 0.5), "P_A must be between 0 and 1"),
    ],
)
def test_degenerate_inputs_are_clear_errors(call, message) -> None:
    with pytest.raises(UserError) as info:
        call()
    assert message in str(info.value)


def test_vectorised_intervals_match_the_scalar_ones() -> None:
    rng = np.random.default_rng(0)
    ns = rng.integers(0, 200, 100_000)
    ks = (rng.random(100_000) * ns).astype(int)
    low, high = wilson_many(ks, ns)
    assert np.isnan(low[ns == 0]).all()
    for i in rng.choice(np.flatnonzero(ns > 0), 50, replace=False):
        r = wilson(int(ks[i]), int(ns[i]))
        assert low[i] == pytest.approx(r.low) and high[i] == pytest.approx(r.high)


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
    summary = {s.condition: s for s in live_summary(conn)}
    c2 = summary["C2"]
    assert c2.n == 50_000 and c2.k == sum(r[6] for r in rows if r[2] == "C2")
    assert c2.low < c2.rate < c2.high and c2.high - c2.low < 0.01


def test_cli_json_outputs_have_stable_keys(capsys) -> None:
    assert main(["stats", "ci", "81", "263", "--json"]) == 0
    assert json.loads(capsys.readouterr().out).keys() == {"k", "n", "rate", "low", "high"}
    assert main(["stats", "compare", "56", "70", "48", "80", "--json"]) == 0
    keys = set(json.loads(capsys.readouterr().out))
    assert {
        "diff_pp",
        "binomial_p_one_sided",
        "fisher_p_two_sided",
        "fisher_p_one_sided",
        "newcombe_low",
        "newcombe_high",
        "ci_overlap",
    } <= keys
    assert main(["stats", "equiv", "900", "1000", "905", "1000", "--margin", "0.05", "--json"]) == 0
    eq = json.loads(capsys.readouterr().out)
    assert eq["equivalent"] is True and {"p_value", "p_lower", "p_upper", "margin", "alpha"} <= set(
        eq
    )
    assert main(["stats", "n-needed", "0.9", "0.97", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_per_arm"] == 180
    assert main(["stats", "ci", "7", "10"]) == 0
    assert "Wilson 95% interval" in capsys.readouterr().out


def test_cli_bad_counts_are_one_line(capsys) -> None:
    assert main(["stats", "ci", "11", "10"]) == 2
    err = capsys.readouterr().err
    assert err == "autocapx: error: k (11) cannot exceed n (10)\n"
    with pytest.raises(SystemExit):
        main(["stats", "ci", "abc", "10"])
    assert "expected a whole number" in capsys.readouterr().err
