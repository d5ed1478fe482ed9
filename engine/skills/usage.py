"""Usage analytics: which library skills later trials call, how often, and with what success.

Per skill: calls, trials calling it, the success rate of those trials, and how often a failed
call was rewritten into lower-level primitives on the next attempt (block k called the skill and
failed, block k+1 no longer calls it). Per library: the share of calls taken by the top skills
and the dead skills (in the library, never called).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from engine.skills.mining import calls_in


@dataclass
class SkillUsage:
    name: str
    calls: int = 0
    trials: set[str] = field(default_factory=set)
    successes: int = 0
    rewritten: int = 0
    in_libraries: int = 0

    @property
    def success_when_called(self) -> float | None:
        return self.successes / len(self.trials) if self.trials else None


@dataclass
class UsageReport:
    skills: dict[str, SkillUsage]
    total_calls: int

    def top_share(self, k: int = 3) -> float:
        """Share of all skill calls taken by the k most-called skills."""
        if not self.total_calls:
            return 0.0
        top = sorted((u.calls for u in self.skills.values()), reverse=True)[:k]
        return sum(top) / self.total_calls

    @property
    def dead(self) -> list[str]:
        return sorted(n for n, u in self.skills.items() if u.in_libraries and not u.calls)

    def rows(self) -> list[dict]:
        out = []
        for name, u in sorted(self.skills.items(), key=lambda kv: (-kv[1].calls, kv[0])):
            rate = u.success_when_called
            out.append(
                {
                    "skill": name,
                    "calls": u.calls,
                    "share": round(u.calls / self.total_calls, 4) if self.total_calls else 0.0,
                    "trials": len(u.trials),
                    "success_when_called": None if rate is None else round(rate, 4),
                    "rewritten_on_retry": u.rewritten,
                    "dead": bool(u.in_libraries and not u.calls),
                }
            )
        return out


def usage(conn: sqlite3.Connection) -> UsageReport:
    """Usage of library skills across the completed trials of a session."""
    libraries = {
        r[0]: [s["name"] for s in json.loads(r[1])]
        for r in conn.execute("SELECT version, skill_ids_json FROM library_versions")
    }
    curated = _curated_names()
    skills: dict[str, SkillUsage] = {}
    total = 0
    trials = conn.execute(
        "SELECT run_id, trial_key, library_version, final_success FROM trials WHERE status = 'done'"
    ).fetchall()
    for run_id, key, version, success in trials:
        names = libraries.get(version or "", [])
        if not names and (version or "").startswith("curated9"):
            names = curated
        for name in names:
            skills.setdefault(name, SkillUsage(name)).in_libraries += 1
        if not names:
            continue
        blocks = conn.execute(
            "SELECT code, ok FROM blocks WHERE run_id = ? AND executed = 1 ORDER BY idx", (run_id,)
        ).fetchall()
        previous: tuple[dict[str, int], bool] | None = None
        for code, ok in blocks:
            counts = calls_in(code or "", names)
            for name, n in counts.items():
                u = skills[name]
                u.calls += n
                total += n
                if key not in u.trials:
                    u.trials.add(key)
                    u.successes += int(bool(success))
            if previous is not None:
                prev_counts, prev_ok = previous
                for name in prev_counts:
                    if not prev_ok and name not in counts:
                        skills[name].rewritten += 1
            previous = (counts, bool(ok))
    return UsageReport(skills, total)


def _curated_names() -> list[str]:
    from engine.api.curated9 import CURATED9

    return [fn.__name__ for fn in CURATED9]
