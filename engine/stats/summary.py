"""Per-arm success rates with Wilson intervals, straight from a session database.

An arm is condition x backbone x round: rounds of ``evolve`` run different libraries, so their
trials are never pooled. Within an arm the library may still change (``mine_every``): each
row carries the library versions its trials ran with, in the order they were first used.
Only completed trials count, and only the final attempt (``final_success``); any-attempt
success is kept as a separate column. Two grouped queries (the store's) plus one
vectorised interval computation, so a viewer can refresh it every second even for very large
sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.stats.intervals import wilson_many
from engine.store.reader import SessionReader


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
    round: int = 0
    versions: tuple[str, ...] = ()
    """Library versions the arm's trials ran with, in the order first used."""

    @property
    def arm(self) -> tuple[str, str, int]:
        return (self.condition, self.backbone, self.round)

    @property
    def version_range(self) -> str:
        """``v`` for one version, ``first … last (N versions)`` for several."""
        if not self.versions:
            return "-"
        if len(self.versions) == 1:
            return self.versions[0]
        return f"{self.versions[0]} … {self.versions[-1]} ({len(self.versions)} versions)"


def live_summary(
    reader: SessionReader, by_backbone: bool = True, confidence: float = 0.95
) -> list[ConditionSummary]:
    rows = reader.arm_counts(by_backbone)
    if not rows:
        return []
    versions = reader.arm_versions(by_backbone)
    lows, highs = wilson_many([r[4] for r in rows], [r[3] for r in rows], confidence)
    return [
        ConditionSummary(
            condition=r[0],
            backbone=r[1],
            n=r[3],
            k=r[4],
            k_any=r[5],
            rate=r[4] / r[3],
            low=float(lo),
            high=float(hi),
            mean_reward=float(r[6] or 0.0),
            mean_blocks=float(r[7] or 0.0),
            mean_regenerations=float(r[8] or 0.0),
            tokens=int(r[9]),
            cost_usd=float(r[10]),
            synthetic=bool(r[11]),
            round=int(r[2]),
            versions=tuple(versions.get((r[0], r[1], r[2]), ())),
        )
        for r, lo, hi in zip(rows, lows, highs, strict=True)
    ]
