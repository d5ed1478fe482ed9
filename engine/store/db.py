"""Opening session databases safely: WAL, busy timeouts, migrations and one-line errors.

Every failure a user can meet (missing file, not a database, corrupt pages, a lock held too
long, a schema from a newer autocapx) becomes a :class:`~engine.errors.UserError`; nothing
here ever deletes or rewrites existing data to "fix" it. Only the writer creates and migrates;
a read-only open refuses what is not a session database at this schema version, and never
changes the file.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from engine.errors import UserError
from engine.store import history
from engine.store.schema import SCHEMA_VERSION, SchemaTooNew, current_version, migrate

BUSY_TIMEOUT_MS = 10_000


def _explain(path: Path, exc: sqlite3.Error | UnicodeDecodeError) -> UserError:
    """One line saying what went wrong with the database at ``path``, and what to do."""
    if isinstance(exc, UnicodeDecodeError):  # damaged pages: garbage where text was (even in
        # SQLite's own error message, which quotes the damaged schema)
        return UserError(f"session database {path} is corrupt (it holds text that is not UTF-8)")
    text = str(exc)
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text or "busy" in text:
        return UserError(f"session database {path} is locked by another process; try again later")
    if code == sqlite3.SQLITE_FULL or "disk is full" in text:
        return UserError(
            f"session database {path}: the disk is full ({text}); everything committed before "
            f"is kept: free some space, then try again (a sweep: `autocapx resume "
            f"{path.parent.name}` continues it)"
        )
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or any(
        word in text for word in ("not a database", "malformed", "corrupt")
    ):
        return UserError(f"session database {path} is corrupt or not a session database ({text})")
    if code == sqlite3.SQLITE_IOERR or "disk I/O error" in text:
        return UserError(
            f"session database {path}: the disk failed a read or write ({text}); everything "
            "committed before is kept: check the disk and its free space, then try again"
        )
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN) or any(
        word in text for word in ("readonly", "unable to open")
    ):
        where = path.parent
        if not os.access(where, os.W_OK) and not path.with_name(path.name + "-shm").exists():
            return UserError(
                f"cannot open session database {path} ({text}): its directory {where} is "
                f"read-only, and SQLite must create {path.name}-shm there to open a database "
                "in WAL mode; copy the session directory somewhere writable and open it there"
            )
        return UserError(f"cannot open session database {path} ({text})")
    return UserError(f"session database {path}: {text}")


@contextmanager
def sqlite_errors(path: Path):
    """Turn sqlite errors raised inside the block into one-line UserErrors (text that a
    damaged page made undecodable is one too)."""
    try:
        yield
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        raise _explain(path, exc) from None


class Database:
    """An open session database: its connection, and rows as dicts.

    This is all the store needs of a database wrapper; sqlite-utils gave the same and cost
    every viewer 0.3-0.45 s at start (it imports pandas for its column types)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def query(self, sql: str, params: tuple | dict = ()) -> Iterator[dict]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row, strict=True))


def open_db(
    path: Path,
    *,
    create: bool = False,
    check: bool = False,
    timeout_s: float | None = None,
    read_only: bool = False,
    migrate: bool = True,
    accept_lost_history: bool = False,
) -> Database:
    """Open (or with ``create``, create) a session database.

    The writer's open (the default) brings the schema to the current version; ``read_only``
    opens for viewers, who never write (SQLite refuses it) and never migrate: a file that is
    not a session database, or one at another schema version, is refused in one line.
    ``migrate=False`` opens for writing without migrating (a viewer appending a command).
    ``check`` runs SQLite's ``quick_check`` first, for commands about to rely on every row
    (resume, export). ``timeout_s`` bounds the wait for another process's lock.
    A database that holds less than its writer once committed (its WAL lost) is refused
    (see :mod:`engine.store.history`) unless ``accept_lost_history``.
    """
    busy_ms = int((timeout_s if timeout_s is not None else BUSY_TIMEOUT_MS / 1000) * 1000)
    path = Path(path)
    if not create and not path.is_file():
        raise UserError(f"no session database at {path}")
    with sqlite_errors(path):
        if read_only:
            conn = _connect_read_only(path, busy_ms)
        else:
            conn = sqlite3.connect(str(path), timeout=busy_ms / 1000, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if check:
                quick_check(conn, path)
            if read_only or not migrate:
                _require_session_schema(conn, path)
            if not read_only:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise UserError(f"session database {path} cannot use WAL mode (got {mode})")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
                if migrate:
                    _migrate_or_refuse(conn, path, create)
            if not accept_lost_history and _is_session_db(conn):
                history.check(conn, path)
        except SchemaTooNew as exc:
            conn.close()
            raise UserError(str(exc)) from None
        except BaseException:
            conn.close()
            raise
    return Database(conn)


def upgrade(path: Path) -> tuple[int, int]:
    """Check and migrate a session database; (schema version before, after).

    The caller holds the runner lock: no runner writes while the schema changes."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no session database at {path}")
    with sqlite_errors(path):
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            quick_check(conn, path)
            if not _is_session_db(conn):
                raise UserError(f"{path} is not an autocapx session database")
            before = current_version(conn)
        finally:
            conn.close()
    open_db(path).conn.close()  # the writer's open migrates
    return before, SCHEMA_VERSION


def _connect_read_only(path: Path, busy_ms: int) -> sqlite3.Connection:
    """A read-only connection. In a directory we cannot write, SQLite cannot create the
    ``-shm`` file WAL mode needs; with no write-ahead log to read (no runner, nothing left
    to checkpoint), the file is opened as immutable instead, which needs neither."""
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    wal = path.with_name(path.name + "-wal")
    shm = path.with_name(path.name + "-shm")
    unwritable = not os.access(path.parent, os.W_OK)
    if unwritable and not shm.exists() and (not wal.exists() or wal.stat().st_size == 0):
        uri += "&immutable=1"
    return sqlite3.connect(uri, uri=True, timeout=busy_ms / 1000, check_same_thread=False)


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """SQLite's own check of every page; a damaged database is refused in one line."""
    result = conn.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        detail = " ".join(str(result).replace("*** in database main ***", "").split())
        raise UserError(
            f"session database {path} is corrupt (quick_check: {detail[:160]}); nothing was "
            "written to it: restore it from a copy"
        )


def _is_session_db(conn: sqlite3.Connection) -> bool:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {"session", "trials", "events"} <= names


def _require_session_schema(conn: sqlite3.Connection, path: Path) -> None:
    version = current_version(conn)
    if version == 0 or not _is_session_db(conn):
        raise UserError(f"{path} is not an autocapx session database")
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(version)
    if version < SCHEMA_VERSION:
        raise UserError(
            f"session database {path} has schema version {version}, older than this autocapx "
            f"reads ({SCHEMA_VERSION}): run `autocapx migrate {path.parent.name}` first "
            "(it adds the newer tables and columns and changes no data)"
        )


def _migrate_or_refuse(conn: sqlite3.Connection, path: Path, create: bool) -> None:
    """Migrate a session database (or set up a new, empty file); refuse any other file."""
    version = current_version(conn)
    has_tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] > 0
    if version == 0 and has_tables and not _is_session_db(conn):
        raise UserError(f"{path} is not an autocapx session database")
    if version == 0 and not has_tables and not create:
        raise UserError(f"{path} is not an autocapx session database (it is empty)")
    migrate(conn)


def is_busy(exc: sqlite3.Error) -> bool:
    """Another connection holds the lock (worth waiting for), not a broken database."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)
