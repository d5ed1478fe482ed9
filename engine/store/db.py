"""Opening session databases safely: WAL, busy timeouts, migrations and one-line errors.

Every failure a user can meet (missing file, not a database, corrupt pages, a lock held too
long, a schema from a newer autocapx) becomes a :class:`~engine.errors.UserError`; nothing
here ever deletes or rewrites existing data to "fix" it. Only the writer creates and migrates;
a read-only open refuses what is not a session database at this schema version, and never
changes the file.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlite_utils

from engine.errors import UserError
from engine.store.schema import SCHEMA_VERSION, SchemaTooNew, current_version, migrate

BUSY_TIMEOUT_MS = 10_000


def _explain(path: Path, exc: sqlite3.Error) -> UserError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return UserError(f"session database {path} is locked by another process; try again later")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return UserError(f"session database {path} is corrupt or not a session database ({text})")
    if "readonly" in text or "unable to open" in text:
        return UserError(f"cannot open session database {path} ({text})")
    return UserError(f"session database {path}: {text}")


@contextmanager
def sqlite_errors(path: Path):
    """Turn sqlite errors raised inside the block into one-line UserErrors."""
    try:
        yield
    except sqlite3.Error as exc:
        raise _explain(path, exc) from None


def open_db(
    path: Path,
    *,
    create: bool = False,
    check: bool = False,
    timeout_s: float | None = None,
    read_only: bool = False,
    migrate: bool = True,
) -> sqlite_utils.Database:
    """Open (or with ``create``, create) a session database.

    The writer's open (the default) brings the schema to the current version; ``read_only``
    opens for viewers, who never write (SQLite refuses it) and never migrate: a file that is
    not a session database, or one at another schema version, is refused in one line.
    ``migrate=False`` opens for writing without migrating (a viewer appending a command).
    ``check`` runs SQLite's ``quick_check`` first, for commands about to rely on every row
    (resume, export). ``timeout_s`` bounds the wait for another process's lock.
    """
    busy_ms = int((timeout_s if timeout_s is not None else BUSY_TIMEOUT_MS / 1000) * 1000)
    path = Path(path)
    if not create and not path.is_file():
        raise UserError(f"no session database at {path}")
    with sqlite_errors(path):
        if read_only:
            uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=busy_ms / 1000, check_same_thread=False)
        else:
            conn = sqlite3.connect(str(path), timeout=busy_ms / 1000, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if check:
                result = conn.execute("PRAGMA quick_check").fetchone()[0]
                if result != "ok":
                    raise UserError(f"session database {path} is corrupt (quick_check: {result})")
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
        except SchemaTooNew as exc:
            conn.close()
            raise UserError(str(exc)) from None
        except BaseException:
            conn.close()
            raise
    return sqlite_utils.Database(conn)


def upgrade(path: Path) -> tuple[int, int]:
    """Check and migrate a session database; (schema version before, after).

    The caller holds the runner lock: no runner writes while the schema changes."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no session database at {path}")
    with sqlite_errors(path):
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise UserError(f"session database {path} is corrupt (quick_check: {result})")
            if not _is_session_db(conn):
                raise UserError(f"{path} is not an autocapx session database")
            before = current_version(conn)
        finally:
            conn.close()
    open_db(path).conn.close()  # the writer's open migrates
    return before, SCHEMA_VERSION


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
