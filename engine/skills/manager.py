"""The skill library of a running session: mine, gate, store, build condition libraries, obey overrides.

Owned by the sweep runner (the session's single writer). ``refresh`` re-mines the pool, stores
every candidate with all its gate results, and builds a new immutable library version for each
mined condition when its skills changed; trials started afterwards use it. ``handle`` applies an
approve/veto command with its audit record.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from engine.errors import UserError
from engine.skills import conditions as cond
from engine.skills import quality as q
from engine.skills.gates import GateConfig, GateResult, passed, run_gates
from engine.skills.library import builtin_library, snapshot
from engine.skills.mining import BlockCode, Candidate, Provenance, pool
from engine.store.db import open_db
from engine.store.sessions import DB_NAME, find_session
from engine.sweep.config import SweepConfig
from engine.trial.loop import LibrarySnapshot

BLOCKS_SQL = (
    "SELECT b.code, b.trial_key, b.idx, t.backbone, t.condition, t.final_success, t.round, "
    "t.trial_index FROM blocks b JOIN trials t ON t.run_id = b.run_id "
    "WHERE t.status = 'done' AND b.executed = 1 "
    "AND COALESCE(b.exception, '') NOT LIKE 'SyntaxError%' ORDER BY t.round, t.trial_index, b.idx"
)
"""Executed blocks of completed trials, in plan order (so the pool, its candidates' first
sightings and hence every library version are the same whatever order trials finished in); a
block that did not even parse never defined anything."""


def load_blocks(
    conn: sqlite3.Connection, round_: int | None = None, bound: int | None = None
) -> list[BlockCode]:
    """Blocks of the trials of rounds before ``round_`` and, of ``round_`` itself, those with
    plan index below ``bound`` (``bound`` None: all of it; ``round_`` None: every round)."""
    rows = conn.execute(BLOCKS_SQL).fetchall()
    return [
        BlockCode(r[0] or "", Provenance(r[1], r[2], r[3], r[4], bool(r[5]), r[6]))
        for r in rows
        if round_ is None or r[6] < round_ or (r[6] == round_ and (bound is None or r[7] < bound))
    ]


class SkillManager:
    def __init__(
        self,
        config: SweepConfig,
        conn: sqlite3.Connection,
        emit=None,
        sessions_root: Path | None = None,
    ):
        self.config = config
        self.conn = conn
        self.emit = emit or (lambda kind, data: None)
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
        self._known: set[str] = {r[0] for r in conn.execute("SELECT id FROM skills")}

    # ------------------------------------------------------------------- pool
    def _pool_blocks(self) -> list[BlockCode]:
        source = self.config.skills.pool
        if source == "self":
            return load_blocks(self.conn, self.round, self.bound)
        root = self.sessions_root or Path("sessions")
        other = open_db(find_session(root, source))
        try:
            return load_blocks(other.conn)
        finally:
            other.conn.close()

    def overrides(self) -> tuple[frozenset[str], frozenset[str]]:
        rows = self.conn.execute(
            "SELECT id, override FROM skills WHERE override IS NOT NULL"
        ).fetchall()
        return (
            frozenset(r[0] for r in rows if r[1] == "approved"),
            frozenset(r[0] for r in rows if r[1] == "vetoed"),
        )

    def refresh(self, bound: int | None = None) -> int:
        """Mine, gate, store and rebuild; returns how many candidates are new.

        With a pool of this session's own trials, ``bound`` says which of this round's trials
        count: those planned before index ``bound`` (a re-mine at a planned point of the sweep,
        never "after the n-th trial that happened to finish", so a session gives the same
        libraries at any concurrency); None counts all of them."""
        self.bound = bound
        self.candidates = pool(self._pool_blocks())
        self.gates = run_gates(self.candidates, self.gate_config)
        new = 0
        now = time.time()
        with self.conn:
            for c in self.candidates:
                results = self.gates[c.id]
                status = "promoted" if passed(results) else "rejected"
                is_new = c.id not in self._known
                self.conn.execute(
                    "INSERT INTO skills (id, name, source, signature, docstring, structural_hash, "
                    "occurrences, success_rate, quality, status, round, provenance_json, calls_json, first_seen) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET occurrences = excluded.occurrences, "
                    "success_rate = excluded.success_rate, quality = excluded.quality, status = excluded.status",
                    (
                        c.id,
                        c.name,
                        c.info.source,
                        c.info.signature,
                        c.info.docstring,
                        q.structural_hash(c.info.source),
                        c.n_trials,
                        round(c.success_rate, 4),
                        q.quality(c),
                        status,
                        self.round,
                        json.dumps([o.__dict__ for o in c.occurrences[:50]]),
                        json.dumps(list(c.info.calls)),
                        now,
                    ),
                )
                self.conn.execute("DELETE FROM gate_results WHERE skill_id = ?", (c.id,))
                self.conn.executemany(
                    "INSERT INTO gate_results (skill_id, round, gate, passed, reason) VALUES (?, ?, ?, ?, ?)",
                    [(c.id, self.round, r.gate, int(r.passed), r.reason) for r in results],
                )
                if is_new:
                    new += 1
                    self._known.add(c.id)
                    failed = [f"{r.gate}: {r.reason}" for r in results if not r.passed]
                    self.emit(
                        "skill_candidate",
                        {
                            "id": c.id,
                            "name": c.name,
                            "status": status,
                            "quality": q.quality(c),
                            "failed": failed,
                        },
                    )
        self.rebuild()
        return new

    # --------------------------------------------------------------- libraries
    def rebuild(self) -> None:
        forced_in, forced_out = self.overrides()
        s = self.config.skills
        for spec in self.config.conditions:
            name = cond.canonical(spec.library)
            if name not in cond.MINED:
                lib = builtin_library(spec.library)
                skills: list = list(lib.skills)
            else:
                options = cond.BuildOptions(s.c2_drop, s.quality_min, spec.k or 10, s.survivor_rule)
                skills = cond.build(
                    name, self.candidates, self.gates, options, forced_in, forced_out
                )
                lib = snapshot(spec.name, skills, s.seeding)
            previous = self.libraries.get(spec.name)
            self.libraries[spec.name] = lib
            if previous is None or previous.version != lib.version:
                with self.conn:
                    self.conn.execute(
                        "INSERT OR IGNORE INTO library_versions (version, created_at, condition, round, "
                        "skill_ids_json, source, docs, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            lib.version,
                            time.time(),
                            spec.name,
                            self.round,
                            json.dumps([{"id": i, "name": n} for i, n in lib.skills]),
                            lib.source,
                            lib.docs,
                            f"{len(skills)} skills",
                        ),
                    )
                self.emit(
                    "library_version",
                    {
                        "condition": spec.name,
                        "version": lib.version,
                        "skills": [n for _, n in lib.skills],
                    },
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
        row = self.conn.execute("SELECT id, name FROM skills WHERE id = ?", (ref,)).fetchone()
        if row is None:
            rows = self.conn.execute(
                "SELECT id, name FROM skills WHERE name = ? ORDER BY quality DESC", (ref,)
            ).fetchall()
            if not rows:
                raise UserError(f"no skill {ref!r} in this session")
            row = rows[0]
        return row[0], row[1]

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
        with self.conn:
            self.conn.execute("UPDATE skills SET override = ? WHERE id = ?", (override, skill_id))
            self.conn.execute(
                "INSERT INTO decisions (at, who, action, skill_id, reason, command_id) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), command.get("who", "?"), action, skill_id, reason, command.get("id")),
            )
        self.emit(
            "decision_recorded",
            {
                "skill": skill_id,
                "name": name,
                "action": action,
                "who": command.get("who"),
                "reason": reason,
            },
        )
        self.rebuild()
        return f"{override} {name} ({skill_id})"


def open_manager(
    config: SweepConfig, directory: Path, emit=None
) -> tuple[SkillManager, sqlite3.Connection]:
    """A manager on its own connection (for commands applied while no runner holds the session)."""
    db = open_db(directory / DB_NAME)
    return SkillManager(config, db.conn, emit, directory.parent), db.conn
