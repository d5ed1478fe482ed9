"""The skill library of a running session: mine, gate, store, build condition libraries, obey overrides.

Owned by the sweep runner (the session's single writer). ``refresh`` re-mines the pool, stores
every candidate with all its gate results, and builds a new immutable library version for each
mined condition when its skills changed; trials started afterwards use it. ``handle`` applies an
approve/veto command with its audit record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from engine.config import SweepConfig
from engine.errors import UserError
from engine.events import DecisionRecorded, Event, GateChecked, LibraryVersion, SkillCandidate
from engine.skills import conditions as cond
from engine.skills import quality as q
from engine.skills.evidence import DEDUP_MARKER
from engine.skills.gates import GateConfig, GateResult, passed, run_gates
from engine.skills.library import builtin_library, snapshot
from engine.skills.mining import BlockCode, Candidate, Provenance, pool
from engine.store.reader import SessionReader
from engine.store.sessions import find_session
from engine.store.writer import SessionWriter
from engine.text import plural
from engine.trial.spec import LibrarySnapshot

Emit = Callable[[Event], None]


def load_blocks(
    reader: SessionReader, round_: int | None = None, bound: int | None = None
) -> list[BlockCode]:
    """Blocks of the trials of rounds before ``round_`` and, of ``round_`` itself, those with
    plan index below ``bound`` (``bound`` None: all of it; ``round_`` None: every round), in
    plan order, so the pool, its candidates' first sightings and hence every library version
    are the same whatever order the trials finished in."""
    return [
        BlockCode(r[0] or "", Provenance(r[1], r[2], r[3], r[4], bool(r[5]), r[6]))
        for r in SessionReader.over(reader).mining_blocks()
        if round_ is None or r[6] < round_ or (r[6] == round_ and (bound is None or r[7] < bound))
    ]


class SkillManager:
    def __init__(
        self,
        config: SweepConfig,
        store: SessionWriter,
        emit: Emit | None = None,
        sessions_root: Path | None = None,
    ):
        self.config = config
        self.store = store
        self.emit: Emit = emit or store.event
        self.sessions_root = sessions_root
        s = config.skills
        self.gate_config = GateConfig(
            s.min_occurrences,
            s.min_success_rate,
            s.max_magic_constants,
            s.min_lines,
            s.require_docstring,
        )
        self.candidates: list[Candidate] = []
        self.gates: dict[str, list[GateResult]] = {}
        self.libraries: dict[str, LibrarySnapshot] = {}
        self.round = 0
        self.bound: int | None = None
        """Plan index of this round below which trials feed the pool (None: all of them)."""
        self._known: set[str] = store.reader.skill_ids()
        self._fingerprint_cache: dict = {}

    # ------------------------------------------------------------------- pool
    def _pool_blocks(self) -> list[BlockCode]:
        source = self.config.skills.pool
        if source == "self":
            return load_blocks(self.store.reader, self.round, self.bound)
        root = self.sessions_root or Path("sessions")
        other = SessionReader(find_session(root, source))
        try:
            return load_blocks(other)
        finally:
            other.close()

    def overrides(self) -> tuple[frozenset[str], frozenset[str]]:
        decided = self.store.reader.overrides()
        return (
            frozenset(k for k, v in decided.items() if v == "approved"),
            frozenset(k for k, v in decided.items() if v == "vetoed"),
        )

    def refresh(self, bound: int | None = None) -> int:
        """Mine, gate, store and rebuild; returns how many candidates are new.

        With a pool of this session's own trials, ``bound`` says which of this round's trials
        count: those planned before index ``bound`` (a re-mine at a planned point of the sweep,
        never "after the n-th trial that happened to finish", so a session gives the same
        libraries at any concurrency); None counts all of them."""
        self.bound = bound
        blocks = self._pool_blocks()
        self.candidates = pool(blocks)
        if self.config.skills.sequences:
            from engine.skills.sequences import generated_candidates

            self.candidates += generated_candidates(
                blocks, max(2, self.config.skills.min_occurrences)
            )
        self.gates = run_gates(self.candidates, self.gate_config)
        new = 0
        now = time.time()
        rows = []
        for c in self.candidates:
            results = self.gates[c.id]
            status = "promoted" if passed(results) else "rejected"
            row = {
                "id": c.id,
                "name": c.name,
                "source": c.info.source,
                "signature": c.info.signature,
                "docstring": c.info.docstring,
                "structural_hash": q.structural_hash(c.info.source),
                "occurrences": c.n_trials,
                "success_rate": round(c.success_rate, 4),
                "quality": q.quality(c),
                "status": status,
                "round": self.round,
                "provenance_json": json.dumps([o.__dict__ for o in c.occurrences[:50]]),
                "calls_json": json.dumps(list(c.info.calls)),
                "first_seen": now,
            }
            rows.append((row, [(r.gate, r.passed, r.reason) for r in results]))
        self.store.store_candidates(rows, self.round)
        for c in self.candidates:
            if c.id in self._known:
                continue
            new += 1
            self._known.add(c.id)
            results = self.gates[c.id]
            failed = [f"{r.gate}: {r.reason}" for r in results if not r.passed]
            status = "promoted" if passed(results) else "rejected"
            self.emit(
                SkillCandidate(
                    id=c.id, name=c.name, status=status, quality=q.quality(c), failed=failed
                )
            )
            for r in results:
                self.emit(
                    GateChecked(
                        skill_id=c.id, name=c.name, gate=r.gate, passed=r.passed, reason=r.reason
                    )
                )
        self.rebuild()
        return new

    # --------------------------------------------------------------- libraries
    def _fingerprints(self) -> dict:
        """Behavioural fingerprints of the pool (for C3b), each candidate probed once."""
        from engine.skills.behaviour import fingerprint_all

        missing = [c for c in self.candidates if c.id not in self._fingerprint_cache]
        if missing:
            self._fingerprint_cache.update(fingerprint_all(missing, context=self.candidates))
        return self._fingerprint_cache

    def rebuild(self) -> None:
        forced_in, forced_out = self.overrides()
        s = self.config.skills
        for spec in self.config.conditions:
            name = cond.canonical(spec.library)
            note = ""
            if name not in cond.MINED:
                lib = builtin_library(spec.library)
                skills: list = list(lib.skills)
            else:
                options = cond.BuildOptions(
                    s.c2_drop,
                    s.quality_min,
                    spec.k or 10,
                    s.survivor_rule,
                    without=spec.without,
                    stubbed=spec.stubbed,
                    cut=spec.cut,
                    fingerprints=self._fingerprints() if name == "C3b" else None,
                )
                skills, clusters = cond.build_explained(
                    name, self.candidates, self.gates, options, forced_in, forced_out
                )
                lib = snapshot(spec.name, skills, s.seeding)
                if clusters:
                    note = cond.clusters_note(clusters)
            previous = self.libraries.get(spec.name)
            self.libraries[spec.name] = lib
            if previous is None or previous.version != lib.version:
                self.store.add_library_version(
                    lib.version,
                    condition=spec.name,
                    round_=self.round,
                    skills=[{"id": i, "name": n} for i, n in lib.skills],
                    source=lib.source,
                    docs=lib.docs,
                    note=plural(len(skills), "skill") + (DEDUP_MARKER + note if note else ""),
                )
                self.emit(
                    LibraryVersion(
                        condition=spec.name,
                        version=lib.version,
                        skills=[n for _, n in lib.skills],
                    )
                )

    def library_for(self, condition: str) -> LibrarySnapshot:
        if condition not in self.libraries:
            self.rebuild()
        return self.libraries[condition]

    @property
    def remine_every(self) -> int:
        """Plan indices between re-mines within a round (0: the library is fixed per round)."""
        s = self.config.skills
        mined = any(cond.canonical(c.library) in cond.MINED for c in self.config.conditions)
        return s.mine_every if s.pool == "self" and mined else 0

    def bound_for(self, plan_index: int) -> int:
        """The re-mine point a trial at ``plan_index`` belongs after."""
        every = self.remine_every
        return (plan_index // every) * every if every else 0

    # ---------------------------------------------------------------- overrides
    def find(self, ref: str) -> tuple[str, str]:
        """(id, name) of the skill ``ref`` names: an id, or a name that only one skill has."""
        rows = self.store.reader.skills_named(ref)
        by_id = [r for r in rows if r["id"] == ref]
        if by_id:
            return by_id[0]["id"], by_id[0]["name"]
        if not rows:
            raise UserError(f"no skill {ref!r} in this session")
        if len(rows) > 1:
            ids = ", ".join(r["id"] for r in rows)
            raise UserError(f"{len(rows)} skills are named {ref!r} ({ids}): give the id")
        return rows[0]["id"], rows[0]["name"]

    def handle(self, command: dict) -> str:
        """Apply an approve/veto command; returns what happened (stored with the command)."""
        action = command["action"]
        args = command.get("args", {})
        try:
            skill_id, name = self.find(str(args.get("skill", "")))
        except UserError as exc:
            return f"rejected: {exc}"
        reason = str(args.get("reason") or "").strip() or "(no reason given)"
        override = "approved" if action == "approve" else "vetoed"
        who = command.get("who") or "?"
        self.store.record_decision(
            skill_id, override, action=action, who=who, reason=reason, command_id=command.get("id")
        )
        self.emit(
            DecisionRecorded(skill=skill_id, name=name, action=action, who=who, reason=reason)
        )
        before = {c: lib.version for c, lib in self.libraries.items()}
        self.rebuild()
        changed = [
            f"{c} {lib.version}"
            for c, lib in self.libraries.items()
            if before.get(c) != lib.version
        ]
        made = "new library " + ", ".join(changed) if changed else "no library changed"
        return f"{override} {name} ({skill_id}): {made}"


def open_manager(config: SweepConfig, directory: Path, emit: Emit | None = None) -> SkillManager:
    """A manager on a writer of its own (for commands applied while no runner holds the
    session; the caller holds its lock and closes ``manager.store``)."""
    from engine.store.sessions import DB_NAME

    store = SessionWriter(directory / DB_NAME, create=False)
    return SkillManager(config, store, emit, directory.parent)
