"""The live curves against hand computation: the rate after each trial and its Wilson band
(the closed form, not statsmodels), the spend, and the sampling of a long arm."""

from __future__ import annotations

import math

import pytest

from engine.stats.curves import spend_curve, success_curves


def wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def row(cond: str, ok: int, at: float, cost: float = 0.0, tokens: int = 0) -> dict:
    return {
        "condition": cond,
        "backbone": "b",
        "round": 0,
        "final_success": ok,
        "finished_at": at,
        "cost_usd": cost,
        "prompt_tokens": tokens,
        "completion_tokens": 1,
    }


def test_each_point_is_the_rate_of_the_first_n_trials_with_its_band() -> None:
    rows = [row("A", 1, 0), row("B", 0, 1), row("A", 0, 2), row("A", 1, 3), row("A", 1, 4)]
    a, b = success_curves(rows)
    assert a.arm == ("A", "b", 0) and b.arm == ("B", "b", 0)
    assert a.n == (1, 2, 3, 4) and a.rate == pytest.approx((1, 1 / 2, 2 / 3, 3 / 4))
    for k, n, low, high in zip((1, 1, 2, 3), a.n, a.low, a.high, strict=True):
        assert (low, high) == pytest.approx(wilson_by_hand(k, n), abs=1e-9)
    assert b.rate == (0.0,) and b.low[0] == pytest.approx(0.0, abs=1e-12)


def test_a_long_arm_is_sampled_and_keeps_its_last_point() -> None:
    rows = [row("A", int(i % 4 != 0), i) for i in range(1000)]
    [curve] = success_curves(rows, max_points=50)
    assert len(curve.n) <= 50 and curve.n[0] == 1 and curve.n[-1] == 1000
    assert curve.rate[-1] == pytest.approx(750 / 1000)


def test_spend_accumulates_cost_and_tokens_over_minutes() -> None:
    rows = [row("A", 1, 100, 0.5, 10), row("A", 0, 160, 0.25, 20), row("B", 1, 220, 1.0, 5)]
    s = spend_curve(rows)
    assert s.minutes == pytest.approx((0, 1, 2))
    assert s.cost_usd == pytest.approx((0.5, 0.75, 1.75))
    assert s.tokens == (11, 32, 38)
    assert spend_curve([]).minutes == ()
