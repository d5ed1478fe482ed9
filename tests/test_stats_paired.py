"""Paired comparisons by seed, against hand counts, scipy and closed forms computed here."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats as st

from engine.cli import main
from engine.errors import UserError
from engine.stats.paired import (
    Outcome,
    agresti_min,
    clustered_se,
    mcnemar_exact,
    outcomes_from_rows,
    paired_comparison,
    session_pairs,
)


def test_b10_c2_is_the_published_0_0386() -> None:
    t = mcnemar_exact(10, 2)
    # By hand: b ~ Binomial(12, 1/2); P(X <= 2) = (1 + 12 + 66) / 4096, doubled.
    assert t.p_exact_two_sided == pytest.approx(158 / 4096, abs=1e-15)
    assert round(t.p_exact_two_sided, 4) == 0.0386
    assert t.p_exact_one_sided == pytest.approx(79 / 4096, abs=1e-15)  # P(X >= 10)
    assert (t.b, t.c, t.n_discordant) == (10, 2, 12)


@pytest.mark.parametrize("b, c", [(0, 1), (1, 0), (3, 3), (10, 2), (2, 10), (0, 25), (17, 9)])
def test_mcnemar_agrees_with_scipy_binomtest(b: int, c: int) -> None:
    t = mcnemar_exact(b, c)
    assert t.p_exact_two_sided == pytest.approx(st.binomtest(b, b + c, 0.5).pvalue, abs=1e-12)
    greater = st.binomtest(b, b + c, 0.5, alternative="greater").pvalue
    less = st.binomtest(b, b + c, 0.5, alternative="less").pvalue
    assert t.p_exact_one_sided == pytest.approx(greater, abs=1e-12)
    assert t.p_exact_one_sided_less == pytest.approx(less, abs=1e-12)
    # Clopper-Pearson by its beta-quantile closed form
    low = st.beta.ppf(0.025, b, c + 1) if b else 0.0
    high = st.beta.ppf(0.975, b + 1, c) if c else 1.0
    assert (t.share_low, t.share_high) == (pytest.approx(low), pytest.approx(high))


def test_no_discordant_pair_says_nothing() -> None:
    t = mcnemar_exact(0, 0, 7)
    assert (t.p_exact_two_sided, t.p_exact_one_sided, t.diff) == (1.0, 1.0, 0.0)
    assert t.diff_low < 0 < t.diff_high


def test_agresti_min_closed_form_and_coverage() -> None:
    # (b + 1/2 - c - 1/2) / (n + 2), SE sqrt((b' + c') - (b' - c')^2 / n') / n', by hand
    low, high = agresti_min(10, 2, 40)
    d, se = 8 / 42, math.sqrt(13 - 64 / 42) / 42
    assert (low, high) == (pytest.approx(d - 1.959964 * se), pytest.approx(d + 1.959964 * se))
    # coverage over paired multinomial outcomes (rates 0.7 and 0.6, correlated by the scene)
    rng = np.random.default_rng(7)
    probs = [0.5, 0.2, 0.1, 0.2]  # both, A only, ref only, neither: p_A 0.7, p_ref 0.6
    true = probs[1] - probs[2]
    covered = 0
    sims = 2000
    for cells in rng.multinomial(30, probs, size=sims):
        lo, hi = agresti_min(int(cells[1]), int(cells[2]), 30)
        covered += lo <= true <= hi
    assert covered / sims >= 0.93


def test_bad_counts_are_one_line_errors(capsys) -> None:
    for b, c, n in [(-1, 2, None), (1.5, 2, None), (10, 2, 5), (True, 1, None)]:
        with pytest.raises(UserError):
            mcnemar_exact(b, c, n)
    assert main(["stats", "paired", "10", "2", "--pairs", "5"]) == 2
    assert "cannot exceed" in capsys.readouterr().err


def test_cli_json_keys(capsys) -> None:
    assert main(["stats", "paired", "10", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"b", "c", "n_discordant", "p_exact_two_sided", "p_exact_one_sided"} <= set(out)
    assert (out["b"], out["c"], out["n_discordant"]) == (10, 2, 12)
    assert round(out["p_exact_two_sided"], 4) == 0.0386
    assert main(["stats", "paired", "10", "2", "--pairs", "40", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["diff"] == pytest.approx(0.2) and out["n_pairs"] == 40


def _cr1_by_hand(y: list[float], g: list[int]) -> float:
    """CR1 SE of a mean: sqrt(G/(G-1) * (N-1)/(N-1) * sum_g (sum_i e_i)^2) / N."""
    y_ = np.asarray(y, float)
    e = y_ - y_.mean()
    groups = sorted(set(g))
    scores = [sum(e[i] for i in range(len(y)) if g[i] == k) for k in groups]
    n, big_g = len(y), len(groups)
    return math.sqrt(big_g / (big_g - 1) * (n - 1) / (n - 1) * sum(s * s for s in scores)) / n


def test_clustered_se_matches_the_sandwich_by_hand() -> None:
    y = [1, 0, 0, -1, 1, 1, 0, 0, 1, -1, 0, 1]
    g = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert clustered_se(y, g) == pytest.approx(_cr1_by_hand(y, g), rel=1e-9)
    assert clustered_se([1, 1, 1], [0, 1, 2]) == 0.0
    assert clustered_se([1, 0], [0, 0]) is None


def _outcomes() -> list[Outcome]:
    """Two backbones, seeds 0..5; A wins seeds 0-2 on both backbones, loses seed 3 on 'x'."""
    rows = []
    for bb in ("x", "y"):
        for seed in range(6):
            a = seed <= 2 or seed == 5
            ref = seed == 3 and bb == "x" or seed == 5
            rows.append(
                {"condition": "A", "backbone": bb, "round": 0, "seed": seed, "final_success": a}
            )
            rows.append(
                {"condition": "ref", "backbone": bb, "round": 0, "seed": seed, "final_success": ref}
            )
    rows.append({"condition": "A", "backbone": "x", "round": 0, "seed": 9, "final_success": 1})
    rows.append(
        {
            "condition": "A",
            "backbone": "x",
            "round": 0,
            "seed": 4,
            "final_success": 1,
            "status": "abandoned",
        }
    )  # never counted
    return outcomes_from_rows(rows)


def test_pairs_are_matched_by_seed_within_backbone_and_pooled_with_clustered_se() -> None:
    outcomes = _outcomes()
    x = paired_comparison(outcomes, "A", "ref", "x")
    assert x is not None
    # seed 9 has no reference trial: not a pair. b: seeds 0,1,2; c: seed 3; both: seed 5
    assert (x.n_pairs, x.test.b, x.test.c, x.both, x.neither) == (6, 3, 1, 1, 1)
    assert x.clustered_se is None and x.clusters == 6
    pooled = paired_comparison(outcomes, "A", "ref", "all")
    assert pooled is not None
    assert (pooled.n_pairs, pooled.test.b, pooled.test.c, pooled.clusters) == (12, 6, 1, 6)
    diffs = [1, 1, 1, 1, 1, 1, -1, 0, 0, 0, 0, 0]  # seeds 0,0,1,1,2,2,3,3,4,4,5,5
    seeds = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert pooled.clustered_se == pytest.approx(_cr1_by_hand(diffs, seeds), rel=1e-9)
    every = session_pairs(outcomes, "ref")
    assert [(p.condition, p.backbone) for p in every] == [("A", "x"), ("A", "y"), ("A", "all")]
