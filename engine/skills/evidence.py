"""What a skill has actually done, from the store alone: the evidence a person approves or
vetoes on.

:func:`skill_evidence` is a pure function of a :class:`SessionReader` and a skill id, returning a
frozen :class:`SkillEvidence`; :func:`evidence_lines` renders it as text (``skills show``, the
console's approve/veto dialog). Every figure comes from the tables ``export`` writes:

- **mined from**: the trials and blocks the miner found it in (``skills.provenance_json``, the
  first 50 occurrences, with the total);
- **library versions** that held it (``library_versions``) and the trials that ran with them;
- **called**: completed trials whose library held it and that called it at run time (the
  sandbox's ``calls`` records, by name, only in trials whose library version held this id);
- **paired evidence** per arm (condition x backbone x round) that held it: its trials that
  called it against the trials of the same seeds, backbone and round whose library did not
  hold it (the partner is the version that is this arm's minus exactly this skill when one ran
  -- a leave-one-out arm --, else the session's reference condition, else the first other
  condition by name), as a paired difference with Newcombe's interval (:mod:`.paired`); and the
  same for all its trials, called or not ("held"), which is the leave-one-out marginal effect.
  "When called" is selected by the LLM's choice to call it and is not a causal effect;
  "held" is;
- **raised calls** and what the LLM did next: called it again, redid the step with the API
  functions the skill calls, defined its own function of that name, finished, or other;
- **cost per success** of every arm that held it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

from engine.api.names import API_NAMES
from engine.errors import UserError
from engine.skills.conditions import is_generated
from engine.skills.mining import extract_defs
from engine.skills.paired import PairedDifference, paired_difference
from engine.store.reader import SessionReader

Arm = tuple[str, str, int]
DEDUP_MARKER = "; behavioural dedup: "
"""Where a library version's note says what behavioural dedup merged (engine.skills.manager)."""


@dataclass(frozen=True)
class MinedFrom:
    trial_key: str
    block: int
    condition: str
    backbone: str
    trial_success: bool
    round: int


@dataclass(frozen=True)
class VersionHeld:
    version: str
    condition: str
    round: int
    size: int
    trials: int
    """Completed trials that ran with this version."""


@dataclass(frozen=True)
class RaisedCall:
    trial_key: str
    block: int
    exception: str
    next_step: str
    """called again | rewrote with primitives (...) | defined its own | finished | stopped | other"""


@dataclass(frozen=True)
class ArmEvidence:
    condition: str
    backbone: str
    round: int
    trials: int
    """Completed trials of the arm whose library held the skill."""
    called: int
    """Of those, trials that called it."""
    successes: int
    cost_usd: float
    when_called: PairedDifference
    when_held: PairedDifference
    partner: str
    """Which trials the pairs compare against (the partner conditions, by name)."""

    @property
    def cost_per_success(self) -> float | None:
        return self.cost_usd / self.successes if self.successes else None


@dataclass(frozen=True)
class SkillEvidence:
    id: str
    name: str
    status: str
    override: str | None
    generated: bool
    """A candidate autocapx wrote from a recurring call sequence, not one an LLM wrote."""
    occurrences: int
    mined_from: tuple[MinedFrom, ...]
    versions: tuple[VersionHeld, ...]
    calling_trials: tuple[str, ...]
    calls: int
    raised: int
    raised_calls: tuple[RaisedCall, ...]
    arms: tuple[ArmEvidence, ...]
    merged: tuple[str, ...] = ()
    """Behavioural-dedup merges it took part in: "<version>: kept A over B: why"."""

    @property
    def headline(self) -> ArmEvidence | None:
        """The arm with the most paired seeds (the one the dialog leads with)."""
        return max(self.arms, key=lambda a: (a.when_held.n_pairs, a.called), default=None)


def _mined_from(row: dict) -> tuple[MinedFrom, ...]:
    out = []
    for p in json.loads(row.get("provenance_json") or "[]"):
        out.append(
            MinedFrom(
                str(p.get("trial_key", "")),
                int(p.get("block", 0)),
                str(p.get("condition", "")),
                str(p.get("backbone", "")),
                bool(p.get("trial_success")),
                int(p.get("round", 0)),
            )
        )
    return tuple(out)


def _next_step(
    name: str, primitives: frozenset[str], blocks: list[dict], position: int, calls: dict
) -> str:
    """What the block after a raised call did (see the module docstring)."""
    if position + 1 >= len(blocks):
        return "stopped"
    nxt = blocks[position + 1]
    if nxt["decision"] == "finish" or not nxt["executed"]:
        return "finished"
    here = calls.get(nxt["idx"], {})
    if ("skill", name) in here:
        return "called it again"
    if name in {f.name for f in extract_defs(nxt["code"] or "")}:
        return "defined its own " + name
    used = sorted(p for p in primitives if ("api", p) in here)
    if used:
        return "rewrote with primitives (" + ", ".join(used) + ")"
    return "other"


def skill_evidence(
    reader: SessionReader, skill_id: str, reference: str | None = None
) -> SkillEvidence:
    """The evidence for one skill (an id, or a name only one skill has) of a session.

    ``reference`` is the condition pairs fall back to (default: the session's reference)."""
    rows = reader.skills_named(skill_id)
    exact = [r for r in rows if r["id"] == skill_id]
    if not rows:
        raise UserError(f"no skill {skill_id!r} in this session")
    if not exact and len(rows) > 1:
        raise UserError(f"{len(rows)} skills are named {skill_id!r}: give the id")
    row = (exact or rows)[0]
    sid, name = row["id"], row["name"]
    if reference is None:
        reference = (reader.session()["config"].get("session") or {}).get("reference", "P21_a")

    versions = reader.library_version_rows()
    skills_of = {v["version"]: frozenset(s["id"] for s in v["skills"]) for v in versions}
    held = {v["version"] for v in versions if sid in skills_of[v["version"]]}
    trials = reader.trials(status="done")
    by_version: dict[str, int] = defaultdict(int)
    for t in trials:
        by_version[t["library_version"] or "none"] += 1
    versions_held = tuple(
        VersionHeld(
            v["version"], v["condition"], v["round"], len(v["skills"]), by_version[v["version"]]
        )
        for v in versions
        if v["version"] in held
    )

    runs = {t["run_id"]: t for t in trials}
    calls_by_run: dict[int, int] = defaultdict(int)
    raised_runs: dict[int, list[int]] = defaultdict(list)
    total_calls = total_raised = 0
    for run_id, block, n, raised in reader.skill_call_rows(name):
        t = runs.get(run_id)
        if t is None or (t["library_version"] or "") not in held:
            continue  # a call of another skill of the same name
        calls_by_run[run_id] += n
        total_calls += n
        total_raised += raised
        if raised:
            raised_runs[run_id].append(block)

    primitives = frozenset(json.loads(row.get("calls_json") or "[]")) & frozenset(API_NAMES)
    raised_calls = []
    for run_id in sorted(raised_runs):
        blocks = reader.blocks(run_id)
        calls: dict[int, dict] = defaultdict(dict)
        for idx, kind, cname, n, raised in reader.run_calls(run_id):
            calls[idx][(kind, cname)] = (n, raised)
        positions = {b["idx"]: i for i, b in enumerate(blocks)}
        for block in raised_runs[run_id]:
            where = positions.get(block)
            if where is None:
                continue
            raised_calls.append(
                RaisedCall(
                    runs[run_id]["trial_key"],
                    block,
                    blocks[where]["exception"] or "",
                    _next_step(name, primitives, blocks, where, calls),
                )
            )

    arms = _arm_evidence(trials, held, skills_of, sid, calls_by_run, reference)
    merged = []
    for v in versions:
        note = v.get("note") or ""
        if DEDUP_MARKER not in note:
            continue
        for entry in note.split(DEDUP_MARKER, 1)[1].split("; "):
            kept, _, rest = entry.partition(" over ")
            others = rest.split(": ", 1)[0].split(", ")
            if kept.removeprefix("kept ") == name or name in others:
                merged.append(f"{v['version']}: {entry}")
    return SkillEvidence(
        id=sid,
        name=name,
        status=row["status"],
        override=row.get("override"),
        generated=is_generated(sid),
        occurrences=int(row.get("occurrences") or 0),
        mined_from=_mined_from(row),
        versions=versions_held,
        calling_trials=tuple(sorted(runs[r]["trial_key"] for r in calls_by_run)),
        calls=total_calls,
        raised=total_raised,
        raised_calls=tuple(raised_calls),
        arms=arms,
        merged=tuple(dict.fromkeys(merged)),
    )


def _arm_evidence(
    trials: list[dict],
    held: set[str],
    skills_of: dict[str, frozenset[str]],
    sid: str,
    calls_by_run: dict[int, int],
    reference: str,
) -> tuple[ArmEvidence, ...]:
    # candidate partners: trials whose library did not hold the skill, by (backbone, round, seed)
    without: dict[tuple[str, int, int], list[dict]] = defaultdict(list)
    for t in trials:
        if (t["library_version"] or "none") not in held:
            without[(t["backbone"], t["round"], t["seed"])].append(t)
    arms: dict[Arm, list[dict]] = defaultdict(list)
    for t in trials:
        if (t["library_version"] or "none") in held:
            arms[(t["condition"], t["backbone"], t["round"])].append(t)
    out = []
    for (condition, backbone, round_), members in sorted(arms.items()):
        called_pairs, held_pairs, partners = [], [], set()
        for t in members:
            minus = skills_of.get(t["library_version"], frozenset()) - {sid}

            def preference(p: dict, minus: frozenset[str] = minus) -> tuple:
                loo = skills_of.get(p["library_version"] or "", frozenset()) == minus and minus
                return (not loo, p["condition"] != reference, p["condition"], p["run_id"])

            options = without.get((backbone, round_, t["seed"]), [])
            if not options:
                continue
            partner = min(options, key=preference)
            partners.add(partner["condition"])
            pair = (bool(t["final_success"]), bool(partner["final_success"]))
            held_pairs.append(pair)
            if calls_by_run.get(t["run_id"]):
                called_pairs.append(pair)
        out.append(
            ArmEvidence(
                condition=condition,
                backbone=backbone,
                round=round_,
                trials=len(members),
                called=sum(1 for t in members if calls_by_run.get(t["run_id"])),
                successes=sum(int(bool(t["final_success"])) for t in members),
                cost_usd=float(sum(t["cost_usd"] or 0.0 for t in members)),
                when_called=paired_difference(called_pairs),
                when_held=paired_difference(held_pairs),
                partner=", ".join(sorted(partners)) or "none",
            )
        )
    return tuple(out)


def evidence_lines(e: SkillEvidence, width: int = 100) -> list[str]:
    """The evidence as lines of text (``skills show``; the approve/veto dialog)."""
    lines = [
        f"{e.name} ({e.id}) · {e.status}"
        + (f" · {e.override}" if e.override else "")
        + (
            " · GENERATED (written by autocapx from a recurring call sequence)"
            if e.generated
            else ""
        )
    ]
    shown = ", ".join(f"{m.trial_key}#{m.block}" for m in e.mined_from[:6])
    more = f" … (first {len(e.mined_from)} kept)" if len(e.mined_from) > 6 else ""
    lines.append(f"mined from {e.occurrences} trial(s), blocks: {shown or '-'}{more}"[: width + 60])
    if e.versions:
        lines.append(f"in {len(e.versions)} library version(s):")
        for v in e.versions:
            lines.append(
                f"  {v.version} · {v.condition} · round {v.round} · {v.size} skills · "
                f"{v.trials} trials"
            )
    else:
        lines.append("in no library version")
    lines.append(f"called {e.calls} time(s) in {len(e.calling_trials)} trial(s), {e.raised} raised")
    for arm in e.arms:
        cps = "-" if arm.cost_per_success is None else f"${arm.cost_per_success:.4f}"
        lines.append(
            f"  {arm.condition} · {arm.backbone} · round {arm.round}: {arm.successes}/"
            f"{arm.trials} succeeded, called in {arm.called} · cost per success {cps} · "
            f"paired against {arm.partner}"
        )
        lines.append(f"    when held:   {arm.when_held.text()}")
        lines.append(f"    when called: {arm.when_called.text()} (selected by the LLM's choice)")
    for m in e.merged:
        lines.append(f"behavioural dedup {m}"[: width * 3])
    if e.raised_calls:
        lines.append("raised calls and what the LLM did next:")
        for r in e.raised_calls[:10]:
            lines.append(
                f"  {r.trial_key}#{r.block}: {r.exception or '?'} -> {r.next_step}"[:width]
            )
        if len(e.raised_calls) > 10:
            lines.append(f"  … {len(e.raised_calls) - 10} more")
    return lines
