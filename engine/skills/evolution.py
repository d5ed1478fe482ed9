"""The library over time (the study's open question 3): success per library version, with its
Wilson interval, the version's size and its churn against the condition's previous version.

With ``mine_every = N`` or ``evolve`` a condition's library changes between blocks of trials;
each trial records the version it ran with, so each version is a point of the learning curve.
Versions are ordered by the plan order of their first trial (round, then plan index), never by
when they finished, so the curve is the same at any concurrency.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from statsmodels.stats.proportion import proportion_confint

from engine.store.reader import SessionReader


@dataclass(frozen=True)
class Rate:
    """k of n with its Wilson 95% interval (engine.stats sits above engine.skills, so the
    interval is taken from statsmodels here, as engine.stats.intervals does)."""

    k: int
    n: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else 0.0


def wilson(k: int, n: int) -> Rate:
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    rate = k / n
    return Rate(k, n, min(float(low), rate), max(float(high), rate))


@dataclass(frozen=True)
class VersionPoint:
    condition: str
    version: str
    round: int
    first_trial: int
    """Plan index of its first trial (the x of the curve within a round)."""
    success: Rate
    size: int
    added: tuple[str, ...]
    """Skill names in it that the condition's previous version lacked."""
    removed: tuple[str, ...]

    @property
    def churn(self) -> int:
        return len(self.added) + len(self.removed)


def version_curve(reader: SessionReader) -> list[VersionPoint]:
    """Per condition, its library versions in the order trials used them, with their success."""
    skills = {v["version"]: v["skills"] for v in reader.library_version_rows()}
    cells: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for t in reader.trials(status="done"):
        cells[(t["condition"], t["library_version"] or "none")].append(t)
    order = sorted(
        cells.items(),
        key=lambda kv: (kv[0][0], min((t["round"], t["trial_index"]) for t in kv[1])),
    )
    out: list[VersionPoint] = []
    previous: dict[str, set[str]] = {}
    for (condition, version), trials in order:
        names = {s["name"] for s in skills.get(version, [])}
        before = previous.get(condition, set())
        first = min(trials, key=lambda t: (t["round"], t["trial_index"]))
        k = sum(int(bool(t["final_success"])) for t in trials)
        out.append(
            VersionPoint(
                condition=condition,
                version=version,
                round=int(first["round"]),
                first_trial=int(first["trial_index"]),
                success=wilson(k, len(trials)),
                size=len(names),
                added=tuple(sorted(names - before)) if condition in previous else (),
                removed=tuple(sorted(before - names)),
            )
        )
        previous[condition] = names
    return out
