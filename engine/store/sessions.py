"""Where sessions live on disk and how they are named and found.

``sessions/<id>/session.db`` plus artifacts (frames, logs) beside it. Ids are readable and
sortable: ``YYYYmmdd-HHMMSS-<name>-<4 hex>``.

Finding a session looks at its file before SQLite opens it (:func:`not_a_session`): a 0-byte
file or an SQLite database of something else is refused, in one line saying which, without
SQLite ever opening it for real (opening a database in WAL mode, even read-only, creates
``-wal`` and ``-shm`` files beside it).
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from engine.errors import UserError

DB_NAME = "session.db"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SQLITE_HEADER = b"SQLite format 3\x00"
_SESSION_TABLES = {"session", "trials", "events"}


def sessions_root(root: str | Path | None = None) -> Path:
    """``--sessions-dir``, else ``$AUTOCAPX_SESSIONS``, else ``./sessions``.

    A path that exists but is not a directory is refused in one line (it can neither hold
    sessions nor be created)."""
    path = Path(root or os.environ.get("AUTOCAPX_SESSIONS") or "sessions")
    if path.exists() and not path.is_dir():
        raise UserError(f"sessions directory {path} is a file, not a directory")
    return path


def new_session_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "session"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{secrets.token_hex(2)}"


def _check_id(session_id: str) -> str:
    if not _ID.match(session_id):
        raise UserError(f"invalid session id {session_id!r}")
    return session_id


def session_dir(root: Path, session_id: str) -> Path:
    """The directory of a new session ``session_id`` under ``root``.

    Refuses, in one line, a ``root`` that cannot take a new session (not a directory, on a
    read-only file system, or without write permission), before anything is created."""
    _check_id(session_id)
    if not root.is_dir():
        raise UserError(f"cannot create a session under {root}: not a directory")
    if not os.access(root, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only_fs(root) else "permission denied"
        raise UserError(f"cannot create a session under {root}: {why}")
    return root / session_id


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def find_session(root: Path, session_id: str) -> Path:
    """Path of an existing session's database; a unique prefix of the id is enough.

    A file there that is not a session database is refused in one line (see
    :func:`not_a_session`)."""
    path = root / _check_id(session_id) / DB_NAME
    if not path.is_file():
        matches = sorted(p for p in root.glob(f"{session_id}*/{DB_NAME}")) if root.is_dir() else []
        if len(matches) > 1:
            names = ", ".join(m.parent.name for m in matches[:5])
            raise UserError(f"session id {session_id!r} is ambiguous: {names}")
        if not matches:
            raise UserError(f"unknown session {session_id!r} (no {DB_NAME} under {root}/)")
        path = matches[0]
    problem = not_a_session(path)
    if problem:
        raise UserError(problem)
    return path


def list_session_dbs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(root.glob(f"*/{DB_NAME}"))


def not_a_session(path: Path) -> str | None:
    """Why the file at ``path`` is certainly not a session database, or None.

    Decided without writing anything: a 0-byte file, or an SQLite database none of whose
    tables are a session's (read with ``immutable=1``, which creates no ``-wal``/``-shm``
    files, and only while no ``-wal`` file exists, so no writer can be mid-transaction).
    Anything else (a session, a damaged file, a database a writer has open) is left to the
    store's open, which checks it fully."""
    try:
        size = path.stat().st_size
        if size == 0:
            return f"{path} is not an autocapx session database (it is empty: 0 bytes)"
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError:
        return None
    if header != _SQLITE_HEADER or path.with_name(path.name + "-wal").exists():
        return None
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            tables = sorted(
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            )
        finally:
            conn.close()
    except (sqlite3.Error, UnicodeDecodeError):
        return None  # damaged: the store's open says how
    if _SESSION_TABLES <= set(tables):
        return None
    if not tables:
        return f"{path} is not an autocapx session database (an SQLite database with no tables)"
    shown = ", ".join(tables[:6]) + (f" and {len(tables) - 6} more" if len(tables) > 6 else "")
    return (
        f"{path} is not an autocapx session database "
        f"(an SQLite database of something else: tables {shown})"
    )
