"""Per-condition success rates with Wilson intervals, straight from a session database.

One grouped query plus one vectorised interval computation, so a viewer can refresh it every
second even for very large sessions. Only completed trials count, and only the final attempt
(``final_success``); any-attempt success is kept as a separate column.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from engine.stats.intervals import wilson_many

SUMMARY_SQL = (
    "SELECT condition, backbone, COUNT(*), COALESCE(SUM(final_success), 0), "
    "COALESCE(SUM(any_success), 0), AVG(reward), AVG(n_blocks), AVG(regenerations), "
    "COALESCE(SUM(prompt_tokens), 0) + COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost_usd), 0), "
    "MAX(synthetic) "
    "FROM trials WHERE status = 'done' GROUP BY condition{by_backbone} ORDER BY condition{by_backbone}"
)


@dataclass(frozen=True)
class ConditionSummary:
    condition: str
    backbone: str
    n: int
    k: int
    k_any: int
    rate: float
    low: float
    high: float
    mean_reward: float
    mean_blocks: float
    mean_regenerations: float
    tokens: int
    cost_usd: float
    synthetic: bool


def live_summary(
    conn: sqlite3.Connection, by_backbone: bool = True, confidence: float = 0.95
) -> list[ConditionSummary]:
    sql = SUMMARY_SQL.format(by_backbone=", backbone" if by_backbone else "")
    rows = conn.execute(sql).fetchall()
    if not rows:
        return []
    lows, highs = wilson_many([r[3] for r in rows], [r[2] for r in rows], confidence)
    return [
        ConditionSummary(
            condition=r[0],
            backbone=r[1] if by_backbone else "all",
            n=r[2],
            k=r[3],
            k_any=r[4],
            rate=r[3] / r[2],
            low=float(lo),
            high=float(hi),
            mean_reward=float(r[5] or 0.0),
            mean_blocks=float(r[6] or 0.0),
            mean_regenerations=float(r[7] or 0.0),
            tokens=int(r[8]),
            cost_usd=float(r[9]),
            synthetic=bool(r[10]),
        )
        for r, lo, hi in zip(rows, lows, highs, strict=True)
    ]
