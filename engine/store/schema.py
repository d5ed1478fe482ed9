"""Versioned schema of a session database, with forward migrations.

Each migration is a list of SQL statements that takes the database from version N-1 to N;
``PRAGMA user_version`` records the version. Opening an older database migrates it; a newer
one (written by a newer autocapx) is refused rather than misread.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[list[str]] = [
    # 1: the initial schema
    [
        """CREATE TABLE session (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            status TEXT NOT NULL,
            task TEXT NOT NULL,
            config_json TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            code_version TEXT NOT NULL,
            synthetic INTEGER NOT NULL DEFAULT 0,
            total_trials INTEGER NOT NULL DEFAULT 0,
            pid INTEGER,
            host TEXT
        )""",
        """CREATE TABLE trials (
            run_id INTEGER PRIMARY KEY AUTOINCREMENT,
            trial_key TEXT NOT NULL,
            trial_index INTEGER NOT NULL,
            round INTEGER NOT NULL DEFAULT 0,
            condition TEXT NOT NULL,
            backbone TEXT NOT NULL,
            seed INTEGER NOT NULL,
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            backend TEXT,
            model TEXT,
            synthetic INTEGER NOT NULL DEFAULT 0,
            library_version TEXT,
            final_success INTEGER,
            any_success INTEGER,
            code_ran_clean INTEGER,
            reward REAL,
            n_blocks INTEGER,
            regenerations INTEGER,
            finishes INTEGER,
            end_reason TEXT,
            error TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            cost_usd REAL,
            wall_time_s REAL,
            llm_time_s REAL,
            exec_time_s REAL,
            started_at REAL NOT NULL,
            finished_at REAL
        )""",
        # At most one completed run per trial: the guarantee that resume never counts twice.
        "CREATE UNIQUE INDEX trials_one_done ON trials(trial_key) WHERE status = 'done'",
        "CREATE INDEX trials_status ON trials(status)",
        "CREATE INDEX trials_condition ON trials(condition, backbone, status)",
        """CREATE TABLE blocks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES trials(run_id),
            trial_key TEXT NOT NULL,
            idx INTEGER NOT NULL,
            decision TEXT NOT NULL,
            executed INTEGER NOT NULL,
            ok INTEGER,
            success INTEGER,
            reward REAL,
            code TEXT,
            reply TEXT,
            reasoning TEXT,
            prompt TEXT,
            stdout TEXT,
            stderr TEXT,
            exception TEXT,
            violation TEXT,
            killed TEXT,
            feedback TEXT,
            sim_summary_json TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            llm_latency_s REAL,
            exec_time_s REAL,
            wall_time_s REAL,
            UNIQUE(run_id, idx)
        )""",
        """CREATE TABLE llm_calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES trials(run_id),
            block_idx INTEGER NOT NULL,
            backend TEXT, model TEXT,
            prompt_tokens INTEGER, completion_tokens INTEGER,
            latency_s REAL, retries_json TEXT, at REAL
        )""",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            trial_key TEXT,
            run_id INTEGER,
            data_json TEXT NOT NULL
        )""",
        """CREATE TABLE skills (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            source TEXT NOT NULL,
            signature TEXT,
            docstring TEXT,
            structural_hash TEXT,
            occurrences INTEGER,
            success_rate REAL,
            quality REAL,
            status TEXT NOT NULL,
            round INTEGER NOT NULL DEFAULT 0,
            provenance_json TEXT,
            calls_json TEXT,
            first_seen REAL
        )""",
        """CREATE TABLE gate_results (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            skill_id TEXT NOT NULL REFERENCES skills(id),
            round INTEGER NOT NULL DEFAULT 0,
            gate TEXT NOT NULL,
            passed INTEGER NOT NULL,
            reason TEXT NOT NULL
        )""",
        """CREATE TABLE library_versions (
            version TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            condition TEXT NOT NULL,
            round INTEGER NOT NULL DEFAULT 0,
            skill_ids_json TEXT NOT NULL,
            source TEXT NOT NULL,
            docs TEXT NOT NULL,
            note TEXT
        )""",
        """CREATE TABLE decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            who TEXT NOT NULL,
            action TEXT NOT NULL,
            skill_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            command_id INTEGER
        )""",
        """CREATE TABLE commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            who TEXT NOT NULL,
            action TEXT NOT NULL,
            args_json TEXT NOT NULL DEFAULT '{}',
            consumed_at REAL,
            result TEXT
        )""",
        "CREATE INDEX commands_pending ON commands(consumed_at)",
    ],
    # 2: approve/veto overrides live beside the gate-derived status
    [
        "ALTER TABLE skills ADD COLUMN override TEXT",
        "CREATE INDEX skills_status ON skills(status)",
    ],
    # 3: the vision model's share of a block (feedback = "vdm")
    [
        "ALTER TABLE blocks ADD COLUMN vdm_prompt_tokens INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE blocks ADD COLUMN vdm_completion_tokens INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE blocks ADD COLUMN vdm_latency_s REAL NOT NULL DEFAULT 0",
    ],
    # 4: calls counted at run time in the sandbox (skill usage comes from these, not from names)
    [
        """CREATE TABLE calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES trials(run_id),
            trial_key TEXT NOT NULL,
            block_idx INTEGER NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            calls INTEGER NOT NULL,
            raised INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX calls_run ON calls(run_id, block_idx)",
        # what the server says answered each call, and each trial
        "ALTER TABLE llm_calls ADD COLUMN system_fingerprint TEXT",
        "ALTER TABLE llm_calls ADD COLUMN extra_json TEXT",
        "ALTER TABLE trials ADD COLUMN served_model TEXT",
    ],
    # 5: a call that failed for good is recorded too (its retries, why it failed); commands
    # carry the runner generation they were sent to
    [
        "ALTER TABLE llm_calls ADD COLUMN error TEXT",
        "ALTER TABLE llm_calls ADD COLUMN error_kind TEXT",
        # commands name the runner they were sent to; one sent to a dead runner expires
        "ALTER TABLE session ADD COLUMN runner_generation INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE commands ADD COLUMN generation INTEGER",
    ],
    # 6: the runner's heartbeat, so a viewer can tell a live runner from a stalled or dead one
    [
        "ALTER TABLE session ADD COLUMN heartbeat_at REAL",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(Exception):
    def __init__(self, found: int) -> None:
        super().__init__(
            f"the session database has schema version {found}, newer than this autocapx "
            f"understands ({SCHEMA_VERSION}); upgrade autocapx"
        )


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; returns the version it started at."""
    start = current_version(conn)
    if start > SCHEMA_VERSION:
        raise SchemaTooNew(start)
    for version in range(start + 1, SCHEMA_VERSION + 1):
        with conn:
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
    return start
