"""The viewers' side of the store: read progress, trials, blocks and events; send commands.

Reads never block the writer (WAL). Commands are the only thing a viewer writes: a row in the
``commands`` table that the runner consumes and acknowledges.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from engine.store.db import open_db, sqlite_errors

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
    seq: int
    at: float
    kind: str
    trial_key: str | None
    run_id: int | None
    data: dict


class SessionReader:
    """Read access to one session database (plus command sending)."""

    def __init__(self, path: Path, *, check: bool = False, timeout_s: float | None = None) -> None:
        self.path = Path(path)
        self.db: sqlite_utils.Database = open_db(self.path, check=check, timeout_s=timeout_s)
        self.conn = self.db.conn

    def query(self, sql: str, params: tuple = ()) -> list[dict]:
        """Rows of a read-only query as dicts (viewers' escape hatch for their own views)."""
        with sqlite_errors(self.path):
            cur = self.conn.execute(sql, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def session(self) -> dict:
        rows = self.query("SELECT * FROM session")
        if not rows:
            from engine.errors import UserError

            raise UserError(f"{self.path} holds no session (it was never initialised)")
        info = rows[0]
        info["config"] = json.loads(info.pop("config_json"))
        info["privileged"] = privileged_labels(info["config"])
        return info

    def progress(self) -> dict:
        """Counts of trial runs by status, and completed trials and successes."""
        counts = {
            r["status"]: r["n"]
            for r in self.query("SELECT status, COUNT(*) AS n FROM trials GROUP BY status")
        }
        done = self.query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(final_success), 0) AS k FROM trials WHERE status = 'done'"
        )[0]
        return {"runs": counts, "done": done["n"], "successes": done["k"]}

    def condition_counts(self) -> list[dict]:
        """Per (condition, backbone): completed trials, final successes, any-attempt successes."""
        return self.query(
            "SELECT condition, backbone, COUNT(*) AS n, SUM(final_success) AS k, "
            "SUM(any_success) AS k_any, AVG(reward) AS mean_reward, AVG(n_blocks) AS mean_blocks, "
            "AVG(regenerations) AS mean_regenerations, "
            "SUM(prompt_tokens + completion_tokens) AS tokens, SUM(cost_usd) AS cost_usd "
            "FROM trials WHERE status = 'done' GROUP BY condition, backbone ORDER BY condition, backbone"
        )

    def trials(self, status: str | None = None, limit: int | None = None) -> list[dict]:
        sql = "SELECT * FROM trials"
        params: tuple = ()
        if status:
            sql += " WHERE status = ?"
            params = (status,)
        sql += " ORDER BY run_id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self.query(sql, params)

    def blocks(self, run_id: int) -> list[dict]:
        rows = self.query("SELECT * FROM blocks WHERE run_id = ? ORDER BY idx", (run_id,))
        for r in rows:
            r["sim_summary"] = json.loads(r.pop("sim_summary_json") or "{}")
        return rows

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
        return [StoredEvent(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def last_seq(self) -> int:
        with sqlite_errors(self.path):
            return int(self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def send_command(self, action: str, args: dict | None = None, who: str | None = None) -> int:
        """Queue a command for the runner; returns its id."""
        if action not in COMMAND_ACTIONS:
            from engine.errors import UserError

            raise UserError(f"unknown command {action!r} (known: {', '.join(COMMAND_ACTIONS)})")
        who = who or os.environ.get("USER") or "viewer"
        with sqlite_errors(self.path), self.conn:
            cur = self.conn.execute(
                "INSERT INTO commands (at, who, action, args_json) VALUES (?, ?, ?, ?)",
                (time.time(), who, action, json.dumps(args or {})),
            )
        return int(cur.lastrowid)

    def command(self, command_id: int) -> dict | None:
        rows = self.query("SELECT * FROM commands WHERE id = ?", (command_id,))
        return rows[0] if rows else None

    def close(self) -> None:
        self.conn.close()
