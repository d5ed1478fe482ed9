"""Usage analytics from the calls the sandbox counted at run time, never from names in the code.

A trial that defines its own function with a skill's name calls its own function: the worker
binds library skills behind counting wrappers, so only real calls of the library's function are
counted, with whether each raised. Figures are per arm (condition x backbone x round), so a
report never mixes libraries:

- per skill: calls, trials that called it, the final success of those trials, calls that
  raised, and *rewrites on retry*: a block in which the skill raised, followed by a block that
  no longer calls it and calls (at run time) the API functions the skill itself calls, i.e.
  the step was redone with the primitives. For a skill that calls no API function, the next
  block must merely stop calling it without redefining it.
- per arm: total calls, the share of the top 1, 3 and 4 skills, and dead skills (in the
  library the arm's trials ran with, never called).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.api.names import API_NAMES
from engine.skills.mining import extract_defs
from engine.store.reader import SessionReader

Arm = tuple[str, str, int]
"""(condition, backbone, round)."""


@dataclass
class SkillUsage:
    name: str
    calls: int = 0
    raised: int = 0
    trials: set[str] = field(default_factory=set)
    successes: int = 0
    rewritten: int = 0
    in_library: int = 0
    """Trials of the arm whose library held this skill."""

    @property
    def success_when_called(self) -> float | None:
        return self.successes / len(self.trials) if self.trials else None


@dataclass
class UsageReport:
    skills: dict[str, SkillUsage]
    trials: int = 0

    @property
    def total_calls(self) -> int:
        return sum(u.calls for u in self.skills.values())

    def top_share(self, k: int = 3) -> float:
        """Share of all skill calls taken by the k most-called skills."""
        total = self.total_calls
        if not total:
            return 0.0
        return sum(sorted((u.calls for u in self.skills.values()), reverse=True)[:k]) / total

    @property
    def dead(self) -> list[str]:
        return sorted(n for n, u in self.skills.items() if u.in_library and not u.calls)

    def rows(self) -> list[dict]:
        total = self.total_calls
        out = []
        for name, u in sorted(self.skills.items(), key=lambda kv: (-kv[1].calls, kv[0])):
            rate = u.success_when_called
            out.append(
                {
                    "skill": name,
                    "calls": u.calls,
                    "share": round(u.calls / total, 4) if total else 0.0,
                    "raised": u.raised,
                    "trials": len(u.trials),
                    "success_when_called": None if rate is None else round(rate, 4),
                    "rewritten_on_retry": u.rewritten,
                    "dead": bool(u.in_library and not u.calls),
                }
            )
        return out

    def summary(self) -> dict:
        return {
            "trials": self.trials,
            "total_calls": self.total_calls,
            "top1_share": round(self.top_share(1), 4),
            "top3_share": round(self.top_share(3), 4),
            "top4_share": round(self.top_share(4), 4),
            "dead": self.dead,
        }


def usage_by_arm(reader: SessionReader) -> dict[Arm, UsageReport]:
    """Usage of library skills per arm, over the completed trials of a session."""
    libraries = reader.library_versions()
    api = frozenset(API_NAMES)
    primitives = {sid: frozenset(names) & api for sid, names in reader.skill_api_calls().items()}
    calls: dict[int, dict[int, dict[tuple[str, str], tuple[int, int]]]] = defaultdict(dict)
    for run_id, idx, kind, name, n, raised in reader.calls():
        calls[run_id].setdefault(idx, {})[(kind, name)] = (n, raised)
    code: dict[int, dict[int, str]] = defaultdict(dict)
    for run_id, idx, _, _, text in reader.executed_code():
        code[run_id][idx] = text or ""
    reports: dict[Arm, UsageReport] = {}
    for t in reader.trials(status="done"):
        run_id, key, condition = t["run_id"], t["trial_key"], t["condition"]
        backbone, round_, version = t["backbone"], t["round"], t["library_version"]
        success = t["final_success"]
        report = reports.setdefault((condition, backbone, round_), UsageReport({}))
        report.trials += 1
        library = libraries.get(version or "", [])
        ids = {entry["name"]: entry["id"] for entry in library}
        for name in ids:
            report.skills.setdefault(name, SkillUsage(name)).in_library += 1
        blocks = sorted(code.get(run_id, {}))
        per_block = calls.get(run_id, {})
        for position, idx in enumerate(blocks):
            here = per_block.get(idx, {})
            for (kind, name), (n, raised) in here.items():
                if kind != "skill":
                    continue
                u = report.skills.setdefault(name, SkillUsage(name))
                u.calls += n
                u.raised += raised
                if key not in u.trials:
                    u.trials.add(key)
                    u.successes += int(bool(success))
                if raised and position + 1 < len(blocks):
                    after = blocks[position + 1]
                    nxt = per_block.get(after, {})
                    if _rewritten(
                        name,
                        primitives.get(ids.get(name, ""), frozenset()),
                        nxt,
                        code[run_id][after],
                    ):
                        u.rewritten += 1
    return reports


def _rewritten(
    name: str, primitives: frozenset[str], after: dict[tuple[str, str], tuple[int, int]], code: str
) -> bool:
    """Did the next block redo the skill's step without it (see the module docstring)?"""
    if ("skill", name) in after:
        return False
    if primitives:
        return any(("api", p) in after for p in primitives)
    return name not in {f.name for f in extract_defs(code)}


def merged(reports: Iterable[UsageReport]) -> UsageReport:
    """Several arms as one (one line per skill name), for a session-wide glance."""
    out = UsageReport({})
    for report in reports:
        out.trials += report.trials
        for name, u in report.skills.items():
            m = out.skills.setdefault(name, SkillUsage(name))
            m.calls += u.calls
            m.raised += u.raised
            m.successes += u.successes
            m.trials |= u.trials
            m.rewritten += u.rewritten
            m.in_library += u.in_library
    return out


def usage(reader: SessionReader) -> UsageReport:
    """All arms of a session together."""
    return merged(usage_by_arm(reader).values())
