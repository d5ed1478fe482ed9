"""The read side of the store: every query the engine, commands, skills, stats and console need.

No SQL lives outside ``engine/store``: callers ask a :class:`SessionReader` for what they need
by name. Viewers open the database read-only (it is never created or migrated by reading);
the runner reads its own session through ``SessionWriter.reader`` on its connection. Reads
never block the writer (WAL). The only thing a viewer writes is a command
(:meth:`SessionReader.send_command`), on a short-lived connection of its own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UserError
from engine.events import Event, decode
from engine.store import frames, trial_query
from engine.store.db import Database, open_db, sqlite_errors
from engine.store.liveness import RunnerState, runner_state
from engine.store.trial_query import TrialFilter

COMMAND_ACTIONS = ("pause", "resume", "stop", "approve", "veto")


def privileged_labels(config: dict) -> list[str]:
    """What of the simulator's ground truth a session's LLM was shown, one label per channel
    (empty: nothing, CaP-X's setting). Shown as PRIVILEGED by the console, reports and CLIs."""
    session = config.get("session") or {}
    labels = []
    if session.get("feedback") == "privileged":
        labels.append("feedback: simulator scene diff")
    if session.get("privileged_observations"):
        labels.append("observations: object poses")
    return labels


@dataclass(frozen=True)
class StoredEvent:
    """An event as the store keeps it: its sequence number, time, trial and run, and itself."""

    seq: int
    at: float
    trial_key: str | None
    run_id: int | None
    event: Event

    @property
    def kind(self) -> str:
        return self.event.kind if self.event.kind else getattr(self.event, "name", "")

    @property
    def data(self) -> dict:
        return self.event.data


class SessionReader:
    """Read access to one session database (plus command sending)."""

    def __init__(
        self,
        path: Path,
        *,
        check: bool = False,
        timeout_s: float | None = None,
        db: Database | None = None,
    ) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.db = db or open_db(self.path, check=check, timeout_s=timeout_s, read_only=True)
        self.conn: sqlite3.Connection = self.db.conn
        self._owned = db is None

    @classmethod
    def over(cls, source: SessionReader | sqlite3.Connection) -> SessionReader:
        """A reader on an open connection (the runner's own, or one a caller opened)."""
        if isinstance(source, SessionReader):
            return source
        return cls(Path("<connection>"), db=Database(source))

    def _rows(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        with sqlite_errors(self.path):
            return list(self.db.query(sql, params))

    def _one(self, sql: str, params: tuple | dict = ()) -> dict | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _value(self, sql: str, params: tuple = ()) -> object:
        with sqlite_errors(self.path):
            row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ session
    def session(self) -> dict:
        info = self._one("SELECT * FROM session")
        if info is None:
            raise UserError(f"{self.path} holds no session (it was never initialised)")
        info["config"] = json.loads(info.pop("config_json"))
        info["privileged"] = privileged_labels(info["config"])
        return info

    def runner_state(self) -> RunnerState:
        """Whether a runner is alive, stalled or gone (from its heartbeat; writes nothing)."""
        row = self._one("SELECT status, pid, host, heartbeat_at, created_at FROM session")
        if row is None:
            raise UserError(f"{self.path} holds no session (it was never initialised)")
        return runner_state(row, time.time())

    def progress(self) -> dict:
        """Counts of trial runs by status, and completed trials and successes."""
        counts = {
            r["status"]: r["n"]
            for r in self._rows("SELECT status, COUNT(*) AS n FROM trials GROUP BY status")
        }
        done = self._one(
            "SELECT COUNT(*) AS n, COALESCE(SUM(final_success), 0) AS k FROM trials "
            "WHERE status = 'done'"
        )
        assert done is not None
        return {"runs": counts, "done": done["n"], "successes": done["k"]}

    def done_keys(self) -> set[str]:
        return {
            r["trial_key"] for r in self._rows("SELECT trial_key FROM trials WHERE status = 'done'")
        }

    # -------------------------------------------------------------------- trials
    def trials(self, status: str | None = None, limit: int | None = None) -> list[dict]:
        sql = "SELECT * FROM trials"
        params: tuple = ()
        if status:
            sql += " WHERE status = ?"
            params = (status,)
        sql += " ORDER BY run_id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._rows(sql, params)

    def trial_run(self, run_id: int) -> dict | None:
        return self._one("SELECT * FROM trials WHERE run_id = ?", (run_id,))

    def trial_page(
        self, trial_filter: TrialFilter, sort: str = "run", offset: int = 0, limit: int = 50
    ) -> tuple[int, list[dict]]:
        """How many trial runs match, and the ``limit`` of them from ``offset`` in ``sort``
        order (see :mod:`engine.store.trial_query`)."""
        sql, params = trial_query.count_sql(trial_filter)
        total = int(self._value(sql, params) or 0)
        sql, params = trial_query.page_sql(trial_filter, sort, offset, limit)
        return total, self._rows(sql, params)

    def block_frames(self, run_id: int, block: int) -> dict[str, Path]:
        """The camera frames kept for one block ({"before": path, "after": path}, or {})."""
        return frames.saved(self.path.parent, run_id, block)

    def finished_in_order(self) -> list[dict]:
        """Every done trial in the order it finished: what the live curves are made of."""
        return self._rows(
            "SELECT condition, backbone, round, final_success, finished_at, cost_usd, "
            "prompt_tokens, completion_tokens FROM trials WHERE status = 'done' "
            "ORDER BY finished_at, run_id"
        )

    def arm_status_counts(self, status: str) -> dict[tuple[str, str, int], int]:
        """Trial runs in ``status`` per arm (condition, backbone, round)."""
        rows = self._rows(
            "SELECT condition, backbone, round, COUNT(*) AS n FROM trials WHERE status = ? "
            "GROUP BY 1, 2, 3",
            (status,),
        )
        return {(r["condition"], r["backbone"], r["round"]): r["n"] for r in rows}

    def recent_finish_times(self, n: int = 10) -> list[float]:
        """When the last ``n`` completed trials finished, oldest first."""
        rows = self._rows(
            "SELECT finished_at FROM trials WHERE status = 'done' AND finished_at IS NOT NULL "
            "ORDER BY finished_at DESC LIMIT ?",
            (n,),
        )
        return sorted(r["finished_at"] for r in rows)

    def arm_counts(self, by_backbone: bool = True) -> list[tuple]:
        """Per arm (condition, backbone or 'all', round): n, successes, any-attempt successes,
        mean reward, blocks, regenerations, tokens, cost, synthetic — completed trials only."""
        backbone = "backbone" if by_backbone else "'all'"
        with sqlite_errors(self.path):
            return self.conn.execute(
                f"SELECT condition, {backbone}, round, COUNT(*), COALESCE(SUM(final_success), 0), "
                "COALESCE(SUM(any_success), 0), AVG(reward), AVG(n_blocks), AVG(regenerations), "
                "COALESCE(SUM(prompt_tokens), 0) + COALESCE(SUM(completion_tokens), 0), "
                "COALESCE(SUM(cost_usd), 0), MAX(synthetic) FROM trials WHERE status = 'done' "
                f"GROUP BY condition, {backbone}, round ORDER BY round, condition, {backbone}"
            ).fetchall()

    def arm_versions(self, by_backbone: bool = True) -> dict[tuple, list[str]]:
        """Per arm: the library versions its completed trials ran with, in order of first use."""
        backbone = "backbone" if by_backbone else "'all'"
        out: dict[tuple, list[str]] = {}
        with sqlite_errors(self.path):
            rows = self.conn.execute(
                f"SELECT condition, {backbone}, round, library_version, MIN(trial_index) "
                f"FROM trials WHERE status = 'done' GROUP BY condition, {backbone}, round, "
                "library_version ORDER BY MIN(trial_index)"
            ).fetchall()
        for condition, bb, round_, version, _ in rows:
            out.setdefault((condition, bb, round_), []).append(version or "none")
        return out

    def round_counts(self, round_: int) -> tuple[int, int]:
        """(completed trials, final successes) of one round."""
        with sqlite_errors(self.path):
            row = self.conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(final_success), 0) FROM trials "
                "WHERE status = 'done' AND round = ?",
                (round_,),
            ).fetchone()
        return int(row[0]), int(row[1])

    # -------------------------------------------------------------------- blocks
    def blocks(self, run_id: int) -> list[dict]:
        rows = self._rows("SELECT * FROM blocks WHERE run_id = ? ORDER BY idx", (run_id,))
        for r in rows:
            r["sim_summary"] = json.loads(r.pop("sim_summary_json") or "{}")
        return rows

    def mining_blocks(self) -> list[tuple]:
        """(code, trial key, block, backbone, condition, final success, round, plan index) of
        every executed block of every completed trial, in plan order (so a pool does not depend
        on which trial finished first); blocks that did not even parse are left out."""
        with sqlite_errors(self.path):
            return self.conn.execute(
                "SELECT b.code, b.trial_key, b.idx, t.backbone, t.condition, t.final_success, "
                "t.round, t.trial_index FROM blocks b JOIN trials t ON t.run_id = b.run_id "
                "WHERE t.status = 'done' AND b.executed = 1 "
                "AND COALESCE(b.exception, '') NOT LIKE 'SyntaxError%' "
                "ORDER BY t.round, t.trial_index, b.idx"
            ).fetchall()

    def executed_code(self, round_: int | None = None) -> Iterator[tuple]:
        """(run id, block, condition, backbone, code) of executed blocks of completed trials."""
        sql = (
            "SELECT b.run_id, b.idx, t.condition, t.backbone, b.code FROM blocks b "
            "JOIN trials t ON t.run_id = b.run_id WHERE t.status = 'done' AND b.executed = 1"
        )
        params: tuple = ()
        if round_ is not None:
            sql += " AND t.round = ?"
            params = (round_,)
        with sqlite_errors(self.path):
            yield from self.conn.execute(sql + " ORDER BY b.run_id, b.idx", params)

    def runner_waiting_s(self) -> float | None:
        """How long the runner has been waiting for another process's lock (None: it is not)."""
        from engine.store import waiting

        return waiting.waited_s(self.path)

    def llm_calls(self, run_id: int | None = None) -> list[dict]:
        """Every LLM call of the session (or of one run): tokens, latency, retries, and for a
        call that failed for good its error."""
        sql = "SELECT * FROM llm_calls"
        params: tuple = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        rows = self._rows(sql + " ORDER BY id", params)
        for r in rows:
            r["retries"] = json.loads(r.pop("retries_json") or "[]")
        return rows

    def calls(self) -> Iterator[tuple]:
        """(run id, block, kind, name, calls, raised) counted at run time, completed trials."""
        with sqlite_errors(self.path):
            yield from self.conn.execute(
                "SELECT c.run_id, c.block_idx, c.kind, c.name, c.calls, c.raised FROM calls c "
                "JOIN trials t ON t.run_id = c.run_id WHERE t.status = 'done'"
            )

    # -------------------------------------------------------------------- events
    def events_since(
        self, seq: int, limit: int = 1000, kinds: tuple[str, ...] = ()
    ) -> list[StoredEvent]:
        """Events after sequence number ``seq`` (a viewer that reconnects passes the last it saw)."""
        sql = "SELECT seq, at, kind, trial_key, run_id, data_json FROM events WHERE seq > ?"
        params: list = [seq]
        if kinds:
            sql += f" AND kind IN ({', '.join('?' for _ in kinds)})"
            params += list(kinds)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        with sqlite_errors(self.path):
            rows = self.conn.execute(sql, params).fetchall()
        return [StoredEvent(r[0], r[1], r[3], r[4], decode(r[2], json.loads(r[5]))) for r in rows]

    def last_seq(self) -> int:
        return int(self._value("SELECT COALESCE(MAX(seq), 0) FROM events") or 0)

    # -------------------------------------------------------------------- skills
    def skill_ids(self) -> set[str]:
        return {r["id"] for r in self._rows("SELECT id FROM skills")}

    def skills(self, limit: int | None = None) -> list[dict]:
        """Skills, promoted first, then by quality and name."""
        sql = (
            "SELECT * FROM skills ORDER BY CASE WHEN status = 'promoted' THEN 0 ELSE 1 END, "
            "quality DESC, name"
        )
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._rows(sql)

    def skills_named(self, ref: str) -> list[dict]:
        """Skills whose id or name is ``ref``, best quality first."""
        return self._rows(
            "SELECT * FROM skills WHERE id = ? OR name = ? ORDER BY quality DESC, id", (ref, ref)
        )

    def overrides(self) -> dict[str, str]:
        """Skill id -> 'approved' or 'vetoed' (a person's decision in force)."""
        return {
            r["id"]: r["override"]
            for r in self._rows("SELECT id, override FROM skills WHERE override IS NOT NULL")
        }

    def gate_results(self, skill_id: str | None = None) -> list[dict]:
        if skill_id is None:
            return self._rows("SELECT * FROM gate_results ORDER BY id")
        return self._rows("SELECT * FROM gate_results WHERE skill_id = ? ORDER BY id", (skill_id,))

    def gate_failure_counts(self) -> dict[str, int]:
        """Gate -> how many distinct candidates it rejected."""
        rows = self._rows(
            "SELECT gate, COUNT(DISTINCT skill_id) AS n FROM gate_results WHERE passed = 0 "
            "GROUP BY gate ORDER BY 2 DESC"
        )
        return {r["gate"]: r["n"] for r in rows}

    def skill_counts(self) -> tuple[int, int]:
        """(candidates, promoted)."""
        total = int(self._value("SELECT COUNT(*) FROM skills") or 0)
        promoted = int(self._value("SELECT COUNT(*) FROM skills WHERE status = 'promoted'") or 0)
        return total, promoted

    def skill_api_calls(self) -> dict[str, list[str]]:
        """Skill id -> the names its source calls (as mined)."""
        return {
            r["id"]: json.loads(r["calls_json"] or "[]")
            for r in self._rows("SELECT id, calls_json FROM skills")
        }

    def decisions(self, skill_id: str | None = None) -> list[dict]:
        if skill_id is None:
            return self._rows("SELECT * FROM decisions ORDER BY id")
        return self._rows("SELECT * FROM decisions WHERE skill_id = ? ORDER BY id", (skill_id,))

    def library_versions(self) -> dict[str, list[dict]]:
        """Version -> its skills ({"id", "name"})."""
        return {
            r["version"]: json.loads(r["skill_ids_json"])
            for r in self._rows("SELECT version, skill_ids_json FROM library_versions")
        }

    def library_version_rows(self) -> list[dict]:
        """Every library version in the order it was built: version, condition, round, when,
        its skills ({"id", "name"}) and note (provenance: which versions held a skill)."""
        rows = self._rows(
            "SELECT version, condition, round, created_at, skill_ids_json, note "
            "FROM library_versions ORDER BY created_at, version"
        )
        for r in rows:
            r["skills"] = json.loads(r.pop("skill_ids_json"))
        return rows

    def skill_call_rows(self, name: str) -> list[tuple]:
        """(run id, block, calls, raised) of every run-time call record of library skill
        ``name`` in completed trials (the sandbox counts skills by name behind its wrappers)."""
        with sqlite_errors(self.path):
            return self.conn.execute(
                "SELECT c.run_id, c.block_idx, c.calls, c.raised FROM calls c "
                "JOIN trials t ON t.run_id = c.run_id WHERE t.status = 'done' "
                "AND c.kind = 'skill' AND c.name = ? ORDER BY c.run_id, c.block_idx",
                (name,),
            ).fetchall()

    def run_calls(self, run_id: int) -> list[tuple]:
        """(block, kind, name, calls, raised) counted at run time in one run."""
        with sqlite_errors(self.path):
            return self.conn.execute(
                "SELECT block_idx, kind, name, calls, raised FROM calls WHERE run_id = ? "
                "ORDER BY block_idx, kind, name",
                (run_id,),
            ).fetchall()

    def library_version(self, version: str) -> dict | None:
        row = self._one("SELECT * FROM library_versions WHERE version = ?", (version,))
        if row is not None:
            row["skills"] = json.loads(row.pop("skill_ids_json"))
        return row

    # ------------------------------------------------------------------ commands
    def send_command(self, action: str, args: dict | None = None, who: str | None = None) -> int:
        """Queue a command for the runner; returns its id. Written on a connection of its own:
        the reader itself stays read-only. The command names the runner generation it was
        sent to: if that runner is gone, the next one expires it instead of acting on it."""
        if action not in COMMAND_ACTIONS:
            raise UserError(f"unknown command {action!r} (known: {', '.join(COMMAND_ACTIONS)})")
        runner = self.runner_state()
        if not runner.can_take_commands:  # a queued command would wait for nobody
            raise UserError(
                f"no runner is alive to take {action!r}: {runner.words()}; "
                "resume the session first (autocapx resume)"
            )
        who = who or os.environ.get("USER") or "viewer"
        db = open_db(self.path, migrate=False, timeout_s=self.timeout_s)
        try:
            with sqlite_errors(self.path), db.conn:
                cur = db.conn.execute(
                    "INSERT INTO commands (at, who, action, args_json, generation) "
                    "VALUES (?, ?, ?, ?, (SELECT runner_generation FROM session))",
                    (time.time(), who, action, json.dumps(args or {})),
                )
            return int(cur.lastrowid or 0)
        finally:
            db.conn.close()

    def command(self, command_id: int) -> dict | None:
        return self._one("SELECT * FROM commands WHERE id = ?", (command_id,))

    # ------------------------------------------------------------------ export
    def export_rows(self, sql: str) -> tuple[list[str], Iterator[tuple]]:
        """Column names and rows of one of the export queries (:mod:`engine.store.export`)."""
        with sqlite_errors(self.path):
            cur = self.conn.execute(sql)
        return [d[0] for d in cur.description], iter(cur)

    def close(self) -> None:
        if self._owned:
            self.conn.close()
