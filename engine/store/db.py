"""Opening session databases safely: WAL, busy timeouts, migrations and one-line errors.

Every failure a user can meet (missing file, not a database, corrupt pages, a lock held too
long, a schema from a newer autocapx) becomes a :class:`~engine.errors.UserError`; nothing
here ever deletes or rewrites existing data to "fix" it.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from engine.errors import UserError
from engine.store.schema import SchemaTooNew, migrate

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
    path: Path, *, create: bool = False, check: bool = False, timeout_s: float | None = None
) -> sqlite_utils.Database:
    """Open (or with ``create``, create) a session database at the current schema version.

    ``check`` runs SQLite's ``quick_check`` first, for commands about to rely on every row
    (resume, export). ``timeout_s`` bounds the wait for another process's lock.
    """
    busy_ms = int((timeout_s if timeout_s is not None else BUSY_TIMEOUT_MS / 1000) * 1000)
    path = Path(path)
    if not create and not path.is_file():
        raise UserError(f"no session database at {path}")
    with sqlite_errors(path):
        conn = sqlite3.connect(str(path), timeout=busy_ms / 1000, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if check:
                result = conn.execute("PRAGMA quick_check").fetchone()[0]
                if result != "ok":
                    raise UserError(f"session database {path} is corrupt (quick_check: {result})")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise UserError(f"session database {path} cannot use WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn)
        except SchemaTooNew as exc:
            conn.close()
            raise UserError(str(exc)) from None
        except BaseException:
            conn.close()
            raise
    return sqlite_utils.Database(conn)
