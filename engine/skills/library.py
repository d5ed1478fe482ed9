"""Library versions handed to trials: prompt docs, source to seed, a content-hashed version id.

Namespace seeding: all skills of a library are executed into the trial's namespace together,
in dependency order (a skill after the skills it calls), so a skill that calls another skill
finds it at run time. ``isolated`` seeding (each skill executed in a namespace of its own and
only its function object injected, as naive injection does) exists to show the NameError that
seeding avoids.
"""

from __future__ import annotations

import hashlib

from engine.api.docs import entry_from_parts
from engine.errors import UserError
from engine.skills.conditions import Skill
from engine.trial.loop import LibrarySnapshot

PRELUDE = "import math\nimport numpy as np\n"


def version_of(source: str, docs: str) -> str:
    """Content hash: the same skills give the same version id, wherever they were built."""
    return hashlib.sha256((source + "\0" + docs).encode()).hexdigest()[:12]


def dependency_order(skills: list[Skill]) -> list[Skill]:
    """Skills sorted so each comes after the library skills it calls (cycles keep input order)."""
    by_name = {s.name: s for s in skills}
    ordered: list[Skill] = []
    state: dict[str, int] = {}

    def visit(s: Skill) -> None:
        if state.get(s.name) == 2:
            return
        if state.get(s.name) == 1:  # a cycle: Python resolves names at call time anyway
            return
        state[s.name] = 1
        for dep in s.calls:
            if dep in by_name and dep != s.name:
                visit(by_name[dep])
        state[s.name] = 2
        ordered.append(s)

    for s in skills:
        visit(s)
    return ordered


def seeding_source(skills: list[Skill]) -> str:
    """Code that defines the whole library in a trial namespace, in dependency order."""
    ordered = dependency_order(skills)
    return PRELUDE + "\n\n" + "\n\n".join(s.source.strip() + "\n" for s in ordered)


def snapshot(label: str, skills: list[Skill], seeding: str = "namespace") -> LibrarySnapshot:
    """An immutable library version; ``seeding`` is "namespace" (together) or "isolated"."""
    if seeding not in ("namespace", "isolated"):
        raise UserError(f"unknown seeding mode {seeding!r} (namespace or isolated)")
    if not skills:
        return LibrarySnapshot(version="none", docs="", source="")
    docs = "\n\n".join(entry_from_parts(s.name, s.signature, s.docstring) for s in skills)
    source = seeding_source(skills)
    version = f"{label}-{version_of(source + seeding, docs)}"
    parts = tuple(PRELUDE + s.source.strip() + "\n" for s in dependency_order(skills))
    return LibrarySnapshot(
        version=version,
        docs=docs,
        source=source,
        seeding=seeding,
        parts=parts,
        skills=tuple((s.id, s.name) for s in skills),
    )


def builtin_library(name: str) -> LibrarySnapshot:
    """``none`` (base API only) or ``curated9`` (CaP-X's hand-curated helpers)."""
    if name in ("none", "P21_a", ""):
        return LibrarySnapshot(version="none", docs="", source="")
    if name == "curated9":
        from engine.api.curated9 import CURATED9, curated9_source
        from engine.api.docs import api_docs

        docs = api_docs((fn.__name__, fn) for fn in CURATED9)
        source = curated9_source()
        return LibrarySnapshot(
            version="curated9-" + version_of(source, docs),
            docs=docs,
            source=source,
            skills=tuple((f"curated9:{fn.__name__}", fn.__name__) for fn in CURATED9),
        )
    raise UserError(f"unknown library {name!r} (built in: none, curated9)")
