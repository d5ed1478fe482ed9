"""The runner's side of the store: every write (runs, blocks, events, status, commands, the
skill library, the stored config), and its reads through :attr:`SessionWriter.reader`.

Trial rows are per *run*: a trial interrupted by a crash keeps its run row and blocks, marked
``abandoned``, and is run again from scratch under a new run id. A partial unique index lets at
most one run per trial key be ``done``, so a trial can never be counted twice.
Events are buffered and committed together (every ``flush_interval_s`` or ``max_buffer``)
because one commit per streamed token would dominate the runner's time.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from engine.errors import UserError
from engine.events import CommandHandled, Event, SessionState, StoreWaited, encode
from engine.store import frames, history, waiting
from engine.store.db import Database, is_busy, open_db, sqlite_errors
from engine.store.reader import SessionReader
from engine.trial.records import BlockRecord, FailedCall, TrialRecord

T = TypeVar("T")
LOCK_RETRY_S = 0.5
"""Pause between tries of a transaction another process holds the lock for."""
WRITER_BUSY_MS = 2000
"""How long SQLite itself waits for a lock on each try (then ``on_wait`` hears of it)."""
LOCK_WAIT_LIMIT_S = 900.0
CHECKPOINT_EVERY_S = 5.0
"""Copy the write-ahead log into the database file this often: a lost ``-wal`` file then
costs seconds of a sweep, never the session."""


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class SessionWriter:
    """Single writer of one session database."""

    def __init__(
        self,
        path: Path,
        *,
        create: bool = True,
        flush_interval_s: float = 0.1,
        max_buffer: int = 500,
        accept_lost_history: bool = False,
    ) -> None:
        self.path = Path(path)
        self.db: Database = open_db(
            self.path, create=create, accept_lost_history=accept_lost_history
        )
        self.conn = self.db.conn
        self.reader = SessionReader(self.path, db=self.db)
        """Reads of this session on the writer's own connection (sees its own writes)."""
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self._events: list[tuple] = []
        self._last_flush = time.monotonic()
        self.session_id: str | None = None
        self.generation = 0
        """Which runner of the session this is (counted up by :meth:`attach`)."""
        self.lock_wait_limit_s = LOCK_WAIT_LIMIT_S
        self.on_wait: Callable[[float | None], None] = lambda waited: None
        """Told how long a write has waited for another process's lock (None: it got it)."""
        self.conn.execute(f"PRAGMA busy_timeout = {WRITER_BUSY_MS}")
        self._extent = history.measure(self.conn)
        if accept_lost_history or history.recorded(self.path) is None:
            history.record(self.path, self._extent)  # what is here now is the history
        self._last_checkpoint = time.monotonic()
        self.checkpoint_every_s = CHECKPOINT_EVERY_S

    @property
    def extent(self) -> history.Extent:
        """What this session's database holds as of the last commit (events, done trials)."""
        return self._extent

    # ------------------------------------------------------------------ writing
    def _write(self, work: Callable[[], T]) -> T:
        """Run ``work`` in one transaction, riding out another process's lock.

        SQLite gives up on a lock after the busy timeout; a sweep should not end because
        someone ran a long query or a backup. The transaction is tried again until the lock
        goes (each wait reported to ``on_wait``, the whole wait then recorded as a
        ``store_waited`` event), and only after ``lock_wait_limit_s`` does it fail, in one
        line, with everything committed before kept."""
        waited_since: float | None = None
        while True:
            try:
                with self.conn:
                    result = work()
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    with sqlite_errors(self.path):
                        raise
                now = time.monotonic()
                waited_since = waited_since or now
                waited = now - waited_since
                if waited >= self.lock_wait_limit_s:
                    waiting.clear(self.path)
                    raise UserError(
                        f"session database {self.path} stayed locked by another process for "
                        f"{waited:.0f} s; everything before is kept: resume once it is free"
                    ) from None
                if waited == 0:
                    waiting.note(self.path, time.time() - WRITER_BUSY_MS / 1000)
                self.on_wait(waited)
                time.sleep(LOCK_RETRY_S)
                continue
            except sqlite3.Error:
                if waited_since is not None:
                    waiting.clear(self.path)
                with sqlite_errors(self.path):
                    raise
            if waited_since is not None:
                waited = time.monotonic() - waited_since
                waiting.clear(self.path)
                self.on_wait(None)
                kind, data = encode(StoreWaited(seconds=round(waited, 3)))
                self._events.append((time.time(), kind, None, None, _json(data)))
            return result

    # ------------------------------------------------------------------ session
    def create_session(
        self,
        session_id: str,
        *,
        task: str,
        config: dict,
        config_hash: str,
        code_version: str,
        synthetic: bool,
        total_trials: int,
    ) -> None:
        now = time.time()

        def write() -> object:
            self.conn.execute(
                "INSERT INTO session (id, created_at, updated_at, status, task, config_json, "
                "config_hash, code_version, synthetic, total_trials, pid, host) "
                "VALUES (?, ?, ?, 'created', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    now,
                    now,
                    task,
                    _json(config),
                    config_hash,
                    code_version,
                    int(synthetic),
                    total_trials,
                    os.getpid(),
                    socket.gethostname(),
                ),
            )

        self._write(write)
        self.session_id = session_id

    def attach(self) -> dict:
        """Take over an existing session as its writer (resume); returns the session row."""
        info = self.reader.session()
        self.session_id = info["id"]

        def write() -> object:
            self.conn.execute(
                "UPDATE session SET pid = ?, host = ?, updated_at = ?, heartbeat_at = ?, "
                "runner_generation = runner_generation + 1",
                (os.getpid(), socket.gethostname(), time.time(), time.time()),
            )
            return self.conn.execute("SELECT runner_generation FROM session").fetchone()[0]

        self.generation = int(self._write(write))
        return info

    def heartbeat(self) -> None:
        """Say this runner is alive (viewers tell alive, stalled and gone by its age)."""
        now = time.time()
        self._write(lambda: self.conn.execute("UPDATE session SET heartbeat_at = ?", (now,)))

    def set_status(self, status: str, **fields: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in ("status", "updated_at", *fields))

        def write() -> object:
            self.conn.execute(f"UPDATE session SET {sets}", (status, time.time(), *fields.values()))

        self._write(write)
        self.event(SessionState(status=status, fields=dict(fields)))
        self.flush()

    def replace_config(self, snapshot: dict, config_hash: str, total_trials: int) -> None:
        """Store a changed config (resume --force), under the runner lock."""

        def write() -> object:
            self.conn.execute(
                "UPDATE session SET config_json = ?, config_hash = ?, total_trials = ?",
                (_json(snapshot), config_hash, total_trials),
            )

        self._write(write)

    def update_config_snapshot(self, **entries: object) -> None:
        """Set entries of the stored config snapshot (the executor a resume chose, say)."""

        def write() -> object:
            row = self.conn.execute("SELECT config_json FROM session").fetchone()
            snapshot = json.loads(row[0])
            snapshot.update(entries)
            self.conn.execute("UPDATE session SET config_json = ?", (_json(snapshot),))

        self._write(write)

    # -------------------------------------------------------------------- runs
    def abandon_running(self) -> list[str]:
        """Mark runs left 'running' by a dead runner as abandoned; returns their trial keys."""

        def write() -> object:
            keys = [
                r[0]
                for r in self.conn.execute("SELECT trial_key FROM trials WHERE status = 'running'")
            ]
            self.conn.execute(
                "UPDATE trials SET status = 'abandoned', finished_at = ? WHERE status = 'running'",
                (time.time(),),
            )
            return keys

        return self._write(write)

    def done_keys(self) -> set[str]:
        return self.reader.done_keys()

    def begin_run(
        self,
        *,
        trial_key: str,
        trial_index: int,
        condition: str,
        backbone: str,
        seed: int,
        backend: str,
        model: str,
        synthetic: bool,
        library_version: str,
        round: int = 0,
    ) -> int:
        self.flush()

        def write() -> object:
            attempt = (
                1
                + self.conn.execute(
                    "SELECT COUNT(*) FROM trials WHERE trial_key = ?", (trial_key,)
                ).fetchone()[0]
            )
            cur = self.conn.execute(
                "INSERT INTO trials (trial_key, trial_index, round, condition, backbone, seed, "
                "status, attempt, backend, model, synthetic, library_version, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (
                    trial_key,
                    trial_index,
                    round,
                    condition,
                    backbone,
                    seed,
                    attempt,
                    backend,
                    model,
                    int(synthetic),
                    library_version,
                    time.time(),
                ),
            )
            return cur

        cur = self._write(write)
        return int(cur.lastrowid)

    def add_block(self, run_id: int, trial_key: str, block: BlockRecord) -> None:
        """Write a block as soon as it ends, so an interrupted trial keeps what it did."""
        if block.frames:
            frames.save(self.path.parent, run_id, block.index, block.frames)
        row = {
            "run_id": run_id,
            "trial_key": trial_key,
            "idx": block.index,
            "decision": block.decision,
            "executed": int(block.executed),
            "ok": int(block.ok),
            "success": int(block.success),
            "reward": block.reward,
            "code": block.code,
            "reply": block.reply,
            "reasoning": block.reasoning,
            "prompt": block.prompt,
            "stdout": block.stdout,
            "stderr": block.stderr,
            "exception": block.exception,
            "violation": block.violation,
            "killed": block.killed,
            "feedback": block.feedback,
            "sim_summary_json": _json(block.sim_summary),
            "prompt_tokens": block.prompt_tokens,
            "completion_tokens": block.completion_tokens,
            "llm_latency_s": block.llm_latency_s,
            "exec_time_s": block.exec_time_s,
            "wall_time_s": block.wall_time_s,
            "vdm_prompt_tokens": block.vdm_prompt_tokens,
            "vdm_completion_tokens": block.vdm_completion_tokens,
            "vdm_latency_s": block.vdm_latency_s,
        }
        calls = [
            (run_id, trial_key, block.index, "skill", name, n[0], n[1])
            for name, n in block.skill_calls.items()
        ] + [
            (run_id, trial_key, block.index, "api", name, n, 0)
            for name, n in block.api_calls.items()
        ]
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)

        def write() -> object:
            self.conn.execute(
                f"INSERT OR REPLACE INTO blocks ({cols}) VALUES ({marks})", tuple(row.values())
            )
            self.conn.execute(
                "INSERT INTO llm_calls (run_id, block_idx, backend, model, prompt_tokens, "
                "completion_tokens, latency_s, retries_json, at, system_fingerprint, extra_json) "
                "VALUES (?, ?, (SELECT backend FROM trials WHERE run_id = ?), ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    block.index,
                    run_id,
                    block.served_model or None,
                    block.prompt_tokens,
                    block.completion_tokens,
                    block.llm_latency_s,
                    _json(block.llm_retries),
                    time.time(),
                    block.system_fingerprint or None,
                    _json(block.served_extra) if block.served_extra else None,
                ),
            )
            self.conn.execute(
                "DELETE FROM calls WHERE run_id = ? AND block_idx = ?", (run_id, block.index)
            )
            self.conn.executemany(
                "INSERT INTO calls (run_id, trial_key, block_idx, kind, name, calls, raised) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                calls,
            )

        self._write(write)

    def finish_run(self, run_id: int, record: TrialRecord) -> None:
        """Commit a finished trial atomically: its summary and status flip to 'done' together."""
        s = record.summary()
        self.flush()

        def write() -> object:
            self.conn.execute(
                "UPDATE trials SET status = 'done', final_success = ?, any_success = ?, "
                "code_ran_clean = ?, reward = ?, n_blocks = ?, regenerations = ?, finishes = ?, "
                "end_reason = ?, error = ?, prompt_tokens = ?, completion_tokens = ?, cost_usd = ?, "
                "wall_time_s = ?, llm_time_s = ?, exec_time_s = ?, served_model = ?, finished_at = ? "
                "WHERE run_id = ?",
                (
                    int(s["final_success"]),
                    int(s["any_success"]),
                    int(s["code_ran_clean"]),
                    s["reward"],
                    s["n_blocks"],
                    s["regenerations"],
                    s["finishes"],
                    s["end_reason"],
                    s["error"],
                    s["prompt_tokens"],
                    s["completion_tokens"],
                    s["cost_usd"],
                    s["wall_time_s"],
                    s["llm_time_s"],
                    s["exec_time_s"],
                    s["served_model"] or None,
                    time.time(),
                    run_id,
                ),
            )
            if record.failed_call is not None:
                self._add_failed_call(run_id, record.failed_call)

        self._write(write)
        self._committed(done=1)

    def fail_run(self, run_id: int, record: TrialRecord) -> None:
        """A trial cut short by infrastructure (dead API, sandbox failure): kept, never counted,
        run again on resume. The call that failed is kept too, with its retries."""
        self.flush()

        def write() -> object:
            self.conn.execute(
                "UPDATE trials SET status = 'error', end_reason = ?, error = ?, n_blocks = ?, "
                "finished_at = ? WHERE run_id = ?",
                (record.end_reason, record.error, record.n_blocks, time.time(), run_id),
            )
            if record.failed_call is not None:
                self._add_failed_call(run_id, record.failed_call)

        self._write(write)

    def _add_failed_call(self, run_id: int, call: FailedCall) -> None:
        self.conn.execute(
            "INSERT INTO llm_calls (run_id, block_idx, backend, model, prompt_tokens, "
            "completion_tokens, latency_s, retries_json, at, error, error_kind) "
            "VALUES (?, ?, (SELECT backend FROM trials WHERE run_id = ?), ?, 0, 0, NULL, ?, ?, ?, ?)",
            (
                run_id,
                call.block,
                run_id,
                call.model or None,
                _json(list(call.retries)),
                time.time(),
                call.error,
                call.kind,
            ),
        )

    def abandon_run(self, run_id: int, reason: str) -> None:
        def write() -> object:
            self.conn.execute(
                "UPDATE trials SET status = 'abandoned', error = ?, finished_at = ? WHERE run_id = ?",
                (reason, time.time(), run_id),
            )

        self._write(write)

    # ------------------------------------------------------------------ events
    def event(self, event: Event, trial_key: str | None = None, run_id: int | None = None) -> None:
        """Buffer one typed event (committed with the next flush)."""
        kind, data = encode(event)
        self._events.append((time.time(), kind, trial_key, run_id, _json(data)))
        if (
            len(self._events) >= self.max_buffer
            or time.monotonic() - self._last_flush >= self.flush_interval_s
        ):
            self.flush()

    def flush(self) -> None:
        if self._events:
            batch, self._events = self._events, []

            def write() -> object:
                self.conn.executemany(
                    "INSERT INTO events (at, kind, trial_key, run_id, data_json) VALUES (?, ?, ?, ?, ?)",
                    batch,
                )
                return self.conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]

            try:
                seq = self._write(write)
            except BaseException:
                self._events = batch + self._events
                raise
            self._committed(seq=int(seq or 0))
        self._last_flush = time.monotonic()

    def _committed(self, seq: int | None = None, done: int = 0) -> None:
        """Note what is now committed (beside the database), and checkpoint now and then."""
        extent = history.Extent(max(self._extent.seq, seq or 0), self._extent.done + done)
        if extent != self._extent:
            self._extent = extent
            history.record(self.path, extent)
        if time.monotonic() - self._last_checkpoint >= self.checkpoint_every_s:
            self.checkpoint()

    def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Copy committed pages from the WAL into the database file (readers are not blocked)."""
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute(f"PRAGMA wal_checkpoint({mode})")
        self._last_checkpoint = time.monotonic()

    # ---------------------------------------------------------------- commands
    def pending_commands(self) -> list[dict]:
        """Commands for this runner, oldest first. One sent to an earlier runner (which died
        before it could act on it) is expired here, with the reason, never acted on: a stop
        sent to a crashed sweep must not stop the next resume."""
        rows = self.conn.execute(
            "SELECT id, at, who, action, args_json, generation FROM commands "
            "WHERE consumed_at IS NULL ORDER BY id"
        ).fetchall()
        pending = []
        for r in rows:
            if self.generation and (r[5] or 0) < self.generation:
                sent_to = f"runner {r[5]}" if r[5] else "an earlier runner"
                result = f"expired: sent to {sent_to}, which ended before it was applied"
                self.consume_command(r[0], result)
                self.event(CommandHandled(id=r[0], action=r[3], result=result))
                continue
            pending.append(
                {"id": r[0], "at": r[1], "who": r[2], "action": r[3], "args": json.loads(r[4])}
            )
        return pending

    def consume_command(self, command_id: int, result: str) -> None:
        def write() -> object:
            self.conn.execute(
                "UPDATE commands SET consumed_at = ?, result = ? WHERE id = ?",
                (time.time(), result, command_id),
            )

        self._write(write)

    # ------------------------------------------------------------ skill library
    def store_candidate(self, row: dict, gates: list[tuple[str, bool, str]], round_: int) -> None:
        """Insert a mined candidate (or refresh its figures) with all its gate results."""
        updates = ("occurrences", "success_rate", "quality", "status")
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        sets = ", ".join(f"{k} = excluded.{k}" for k in updates)
        self.conn.execute(
            f"INSERT INTO skills ({cols}) VALUES ({marks}) ON CONFLICT(id) DO UPDATE SET {sets}",
            tuple(row.values()),
        )
        self.conn.execute("DELETE FROM gate_results WHERE skill_id = ?", (row["id"],))
        self.conn.executemany(
            "INSERT INTO gate_results (skill_id, round, gate, passed, reason) VALUES (?, ?, ?, ?, ?)",
            [(row["id"], round_, g, int(ok), reason) for g, ok, reason in gates],
        )

    def store_candidates(
        self, rows: list[tuple[dict, list[tuple[str, bool, str]]]], round_: int
    ) -> None:
        """Many candidates in one transaction (a re-mine stores the whole pool)."""

        def write() -> object:
            for row, gates in rows:
                self.store_candidate(row, gates, round_)

        self._write(write)

    def add_library_version(
        self,
        version: str,
        *,
        condition: str,
        round_: int,
        skills: list[dict],
        source: str,
        docs: str,
        note: str,
    ) -> None:
        def write() -> object:
            self.conn.execute(
                "INSERT OR IGNORE INTO library_versions (version, created_at, condition, round, "
                "skill_ids_json, source, docs, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (version, time.time(), condition, round_, _json(skills), source, docs, note),
            )

        self._write(write)

    def record_decision(
        self,
        skill_id: str,
        override: str,
        *,
        action: str,
        who: str,
        reason: str,
        command_id: int | None,
    ) -> None:
        """A person's approve/veto: the override in force and its audit row, together."""

        def write() -> object:
            self.conn.execute("UPDATE skills SET override = ? WHERE id = ?", (override, skill_id))
            self.conn.execute(
                "INSERT INTO decisions (at, who, action, skill_id, reason, command_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), who, action, skill_id, reason, command_id),
            )

        self._write(write)

    def close(self) -> None:
        try:
            self.flush()
            self.checkpoint("TRUNCATE")
        finally:
            self.conn.close()
