"""Curves the console and the browser view plot: each arm's success rate as its trials
finish (with its Wilson band), and the money spent over time.

Pure functions of the done trials in finishing order (``SessionReader.finished_in_order``),
so every point can be recomputed by hand from ``export``: after the i-th finished trial of an
arm, the rate is (successes among its first i) / i.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.stats.intervals import wilson_many

MAX_POINTS = 200
"""Points per curve at most (a long arm is sampled evenly; its last point is always kept)."""


@dataclass(frozen=True)
class SuccessCurve:
    """One arm (condition, backbone, round): n done, the rate and its band after each."""

    arm: tuple[str, str, int]
    n: tuple[int, ...]
    rate: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]


@dataclass(frozen=True)
class SpendCurve:
    """Cumulative cost (USD) and tokens against minutes since the first trial finished."""

    minutes: tuple[float, ...]
    cost_usd: tuple[float, ...]
    tokens: tuple[int, ...]


def _sample(count: int, max_points: int) -> np.ndarray:
    """Indices 0..count-1, at most ``max_points`` of them, evenly spread, last kept."""
    if count <= max_points:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, max_points).round().astype(int))


def success_curves(rows: list[dict], max_points: int = MAX_POINTS) -> list[SuccessCurve]:
    """``rows``: done trials in finishing order, each with condition, backbone, round and
    final_success."""
    by_arm: dict[tuple[str, str, int], list[int]] = {}
    for r in rows:
        arm = (r["condition"], r["backbone"], int(r["round"]))
        by_arm.setdefault(arm, []).append(int(bool(r["final_success"])))
    curves = []
    for arm in sorted(by_arm, key=lambda a: (a[2], a[0], a[1])):
        ks = np.cumsum(by_arm[arm])
        ns = np.arange(1, len(ks) + 1)
        pick = _sample(len(ks), max_points)
        ks, ns = ks[pick], ns[pick]
        low, high = wilson_many(ks, ns)
        curves.append(
            SuccessCurve(
                arm,
                tuple(int(n) for n in ns),
                tuple(float(k / n) for k, n in zip(ks, ns, strict=True)),
                tuple(float(v) for v in low),
                tuple(float(v) for v in high),
            )
        )
    return curves


def spend_curve(rows: list[dict], max_points: int = MAX_POINTS) -> SpendCurve:
    """``rows``: done trials in finishing order with finished_at, cost_usd and tokens."""
    if not rows:
        return SpendCurve((), (), ())
    t0 = rows[0]["finished_at"]
    cost = np.cumsum([r["cost_usd"] or 0.0 for r in rows])
    tokens = np.cumsum([(r["prompt_tokens"] or 0) + (r["completion_tokens"] or 0) for r in rows])
    minutes = np.array([(r["finished_at"] - t0) / 60 for r in rows])
    pick = _sample(len(rows), max_points)
    return SpendCurve(
        tuple(float(m) for m in minutes[pick]),
        tuple(float(c) for c in cost[pick]),
        tuple(int(t) for t in tokens[pick]),
    )
