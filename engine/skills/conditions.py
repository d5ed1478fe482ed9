"""The study's library conditions, each built from one candidate pool, and the sweep's provider.

| condition  | library                                                                    |
|------------|----------------------------------------------------------------------------|
| P21_a      | none: the base API only (the reference point)                              |
| C1         | every candidate that passed the gates (one per name), no dedup             |
| C2         | C1 minus its ``c2_drop`` lowest-quality skills (and any below quality_min) |
| C3v2       | C2 + structural-hash dedup (survivor rule configurable)                    |
| manual_k   | C2 sorted by quality, the top k: exactly k when C2 has k                   |
| empty_ns   | C1's signatures and docstrings with ``pass`` bodies                        |
| C3b        | C2 + behavioural dedup (same returns and API calls on probe inputs)        |
| generated  | only the generated candidates (from call sequences) that passed the gates  |
| curated9   | CaP-X's hand-curated nine helpers                                          |

Approved skills are forced into every mined condition (on top of its size), vetoed ones out
of all of them. A library holds one function per name (the best-quality variant), and that
choice is made before any cut, so a cut to k skills leaves k.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import LIBRARY_ALIASES
from engine.errors import UserError
from engine.skills import quality as q
from engine.skills.gates import GateResult, passed
from engine.skills.mining import Candidate

ALIASES = LIBRARY_ALIASES
MINED = ("C1", "C2", "C3v2", "C3b", "manual_k", "empty_ns", "generated")
GENERATED_PREFIX = "gen-"
"""Id prefix of generated candidates (written from call sequences, labelled everywhere)."""


def canonical(library: str) -> str:
    try:
        return ALIASES[library]
    except KeyError:
        raise UserError(
            f"unknown library {library!r} (known: {', '.join(sorted(ALIASES))})"
        ) from None


@dataclass(frozen=True)
class Skill:
    """A library entry: what the prompt shows and what is executed into the namespace."""

    id: str
    name: str
    signature: str
    docstring: str
    source: str
    calls: tuple[str, ...] = ()


def skill_of(c: Candidate) -> Skill:
    return Skill(c.id, c.name, c.info.signature, c.info.docstring, c.info.source, c.info.calls)


def empty_bodied(s: Skill) -> Skill:
    doc = s.docstring.replace('"""', "'''")
    source = f'def {s.name}{s.signature}:\n    """{doc}"""\n    pass\n'
    return Skill("empty-" + s.id, s.name, s.signature, s.docstring, source, ())


@dataclass(frozen=True)
class BuildOptions:
    c2_drop: int = 2
    """C2 = C1 without its this-many lowest-quality skills (the study dropped 2 of 16)."""
    quality_min: float = 0.0
    """C2 also drops skills below this quality (0: no threshold)."""
    k: int = 10
    survivor_rule: str = "first_seen"
    without: str = ""
    """A leave-one-out arm: this skill id is left out (even if approved)."""
    stubbed: bool = False
    """A stubs arm: every skill's body replaced by ``pass``."""
    cut: int = 0
    """A top-k arm: the library cut to its ``cut`` best by quality (0: no cut)."""
    fingerprints: dict | None = None
    """Behavioural fingerprints by candidate id (for C3b); computed when missing."""


def quality_gated(c1: list[Candidate], options: BuildOptions) -> list[Candidate]:
    """C2: C1 minus skills below ``quality_min``, then minus the ``c2_drop`` lowest."""
    kept = sorted((c for c in c1 if q.quality(c) >= options.quality_min), key=q.rank)
    return kept[: max(0, len(kept) - options.c2_drop)]


def build(
    condition: str,
    candidates: list[Candidate],
    gate_results: dict[str, list[GateResult]],
    options: BuildOptions = BuildOptions(),
    forced_in: frozenset[str] = frozenset(),
    forced_out: frozenset[str] = frozenset(),
) -> list[Skill]:
    """The skills of ``condition`` (a pure function of the pool, its gate results and overrides)."""
    return build_explained(condition, candidates, gate_results, options, forced_in, forced_out)[0]


def build_explained(
    condition: str,
    candidates: list[Candidate],
    gate_results: dict[str, list[GateResult]],
    options: BuildOptions = BuildOptions(),
    forced_in: frozenset[str] = frozenset(),
    forced_out: frozenset[str] = frozenset(),
) -> tuple[list[Skill], tuple]:
    """:func:`build`, and for C3b the behavioural clusters it merged, each with the reason its
    members were judged the same (:class:`engine.skills.behaviour.Cluster`)."""
    name = canonical(condition)
    clusters: tuple = ()
    if name in ("P21_a", "curated9"):
        return [], clusters
    if options.without:
        forced_out = forced_out | {options.without}
        forced_in = forced_in - {options.without}
    forced = [c for c in candidates if c.id in forced_in and c.id not in forced_out]
    taken = {c.name for c in forced}  # an approved skill wins its name
    gated = [
        c
        for c in candidates
        if passed(gate_results.get(c.id, [])) and c.id not in forced_out and c.name not in taken
    ]
    if name == "generated":
        gated = [c for c in gated if is_generated(c.id)]
    c1 = q.unique_names(gated)
    if name in ("C1", "empty_ns", "generated"):
        chosen = c1
    else:
        c2 = quality_gated(c1, options)
        if name == "C2":
            chosen = c2
        elif name == "C3v2":
            chosen = q.dedup_structural(c2, options.survivor_rule)
        elif name == "C3b":
            from engine.skills.behaviour import dedup_behavioural

            merged = dedup_behavioural(c2, options.survivor_rule, options.fingerprints)
            chosen, clusters = merged.survivors, merged.clusters
        else:
            chosen = q.top_k(c2, options.k)
    if options.cut:
        chosen = q.top_k(chosen, options.cut)
    chosen = q.unique_names(forced) + [c for c in chosen if c not in forced]
    skills = [skill_of(c) for c in sorted(chosen, key=q.rank)]
    if name == "empty_ns" or options.stubbed:
        skills = [empty_bodied(s) for s in skills]
    return skills, clusters


def clusters_note(clusters: tuple) -> str:
    """What a behavioural dedup merged and why, for the library version's note."""
    return "; ".join(
        f"kept {c.names[0]} over {', '.join(c.names[1:])}: {c.reason}" for c in clusters
    )


def is_generated(skill_id: str) -> bool:
    """A candidate autocapx wrote from a recurring call sequence (not an LLM's own def)."""
    return skill_id.startswith(GENERATED_PREFIX)
