"""Ablation arms from one config line: a mined condition with ``ablate = ...`` becomes itself plus
generated arms that vary its library, all on the same seeds (trial i of every arm is seed + i):

- ``leave_one_out``: one arm per skill of the library, without that skill
  (``<condition>-minus-<skill name>``); each skill's marginal effect is the paired difference
  between the condition and its arm (:func:`marginal_effects`).
- ``stubs``: one arm with the library's signatures and docstrings and ``pass`` bodies
  (``<condition>-stubs``): the names without the behaviour.
- ``top_k:A-B``: one arm per k in A..B, the library cut to its k best by quality
  (``<condition>-k<k>``), the study's hand-built k = 10..13 series.

The arms depend on the library, so they are generated when the round's library is built (after
mining, before the round's trials are planned): from another session's pool, or in ``evolve``
from the earlier rounds. Generation is a pure function of the config and the libraries, so a
resume generates the same arms.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from dataclasses import dataclass

from engine.config import ConditionConfig, SweepConfig, parse_ablation
from engine.errors import UserError
from engine.skills.paired import PairedDifference, paired_difference
from engine.store.reader import SessionReader

Skills = tuple[tuple[str, str], ...]
"""(id, name) of each skill of a library, as LibrarySnapshot.skills holds them."""


def arm_name(base: str, kind: str, detail: str = "") -> str:
    if kind == "leave_one_out":
        return f"{base}-minus-{detail}"
    if kind == "stubs":
        return f"{base}-stubs"
    return f"{base}-k{detail}"


def ablation_arms(condition: ConditionConfig, skills: Skills) -> list[ConditionConfig]:
    """The arms ``condition.ablate`` generates from its library's ``skills`` (the condition
    itself not included)."""
    if not condition.ablate:
        return []
    kind, low, high = parse_ablation(condition.ablate)
    base = dataclasses.replace(condition, ablate="", ablation_of=condition.name)
    if kind == "leave_one_out":
        return [
            dataclasses.replace(base, name=arm_name(condition.name, kind, name), without=skill_id)
            for skill_id, name in skills
        ]
    if kind == "stubs":
        return [dataclasses.replace(base, name=arm_name(condition.name, kind), stubbed=True)]
    return [
        dataclasses.replace(base, name=arm_name(condition.name, kind, str(k)), cut=k)
        for k in range(low, high + 1)
    ]


def expand(config: SweepConfig, libraries: dict[str, Skills]) -> SweepConfig:
    """``config`` with every ablation line's arms added after their condition (unchanged when
    no condition has one). ``libraries``: condition name -> the skills of its library now."""
    if not any(c.ablate for c in config.conditions):
        return config
    conditions: list[ConditionConfig] = []
    for c in config.conditions:
        conditions.append(c)
        conditions += ablation_arms(c, libraries.get(c.name, ()))
    names = [c.name for c in conditions]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise UserError(
            f"ablation arm {clash[0]!r} has the name of another condition: rename that condition"
        )
    return dataclasses.replace(config, conditions=conditions)


# ----------------------------------------------------------------- reading them back
@dataclass(frozen=True)
class MarginalEffect:
    """One ablation arm against its condition, paired by (backbone, round, seed)."""

    condition: str
    arm: str
    skill: str
    """The skill left out (leave-one-out), "stubs", or "k=<k>"."""
    backbone: str
    round: int
    effect: PairedDifference
    """rate(condition) - rate(arm): for leave-one-out, what the skill adds."""


_ARM = re.compile(r"-(minus-.+|stubs|k\d+)")
"""What :func:`arm_name` appends to the condition's name."""


def _arm_label(arm: str, base: str) -> str:
    tail = arm[len(base) + 1 :]
    if tail.startswith("minus-"):
        return tail[len("minus-") :]
    if tail == "stubs":
        return "stubs"
    return "k=" + tail[1:]


def marginal_effects(reader: SessionReader) -> list[MarginalEffect]:
    """Each ablation arm of a session against the condition it ablates, by backbone and round
    (the arms are found in the stored config: conditions with an ``ablate`` line)."""
    config = reader.session()["config"]
    bases = [c["name"] for c in config.get("conditions") or [] if c.get("ablate")]
    if not bases:
        return []
    outcome: dict[tuple[str, str, int, int], bool] = {}
    conditions: set[str] = set()
    for t in reader.trials(status="done"):
        outcome[(t["condition"], t["backbone"], t["round"], t["seed"])] = bool(t["final_success"])
        conditions.add(t["condition"])
    cells: dict[tuple[str, str, str, int], list[tuple[bool, bool]]] = defaultdict(list)
    for (condition, backbone, round_, seed), ok in outcome.items():
        base = next((b for b in bases if _ARM.fullmatch(condition[len(b) :])), None)
        if base is None or not condition.startswith(base) or condition in bases:
            continue
        partner = outcome.get((base, backbone, round_, seed))
        if partner is not None:
            cells[(base, condition, backbone, round_)].append((partner, ok))
    return [
        MarginalEffect(base, arm, _arm_label(arm, base), backbone, round_, paired_difference(pairs))
        for (base, arm, backbone, round_), pairs in sorted(cells.items())
    ]


def expand_for_round(manager, config: SweepConfig, writer, round_: int) -> SweepConfig:
    """At the start of a round (the manager has mined and built the libraries): the config
    with its ablation arms, with the manager rebuilt on it and the session's planned total
    raised to count the arms (trials of earlier rounds + this round's, for every round left)."""
    libraries = {c.name: manager.library_for(c.name).skills for c in config.conditions if c.ablate}
    expanded = expand(config, libraries)
    manager.config = expanded
    manager.rebuild()
    info = writer.reader.session()
    rounds = int(info["config"].get("_rounds", 1))
    earlier = sum(writer.reader.round_counts(r)[0] for r in range(round_))
    total = earlier + expanded.total_trials * max(1, rounds - round_)
    if total != info["total_trials"]:
        writer.set_status(info["status"], total_trials=total)
    return expanded
