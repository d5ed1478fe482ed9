"""Where sessions live on disk and how they are named and found.

``sessions/<id>/session.db`` plus artifacts (frames, logs) beside it. Ids are readable and
sortable: ``YYYYmmdd-HHMMSS-<name>-<4 hex>``.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

from engine.errors import UserError

DB_NAME = "session.db"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def sessions_root(root: str | Path | None = None) -> Path:
    """``--sessions-dir``, else ``$AUTOCAPX_SESSIONS``, else ``./sessions``."""
    return Path(root or os.environ.get("AUTOCAPX_SESSIONS") or "sessions")


def new_session_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "session"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{secrets.token_hex(2)}"


def session_dir(root: Path, session_id: str) -> Path:
    if not _ID.match(session_id):
        raise UserError(f"invalid session id {session_id!r}")
    return root / session_id


def find_session(root: Path, session_id: str) -> Path:
    """Path of an existing session's database; a unique prefix of the id is enough."""
    path = session_dir(root, session_id) / DB_NAME
    if path.is_file():
        return path
    matches = sorted(p for p in root.glob(f"{session_id}*/{DB_NAME}")) if root.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(m.parent.name for m in matches[:5])
        raise UserError(f"session id {session_id!r} is ambiguous: {names}")
    raise UserError(f"unknown session {session_id!r} (no {DB_NAME} under {root}/)")


def list_session_dbs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(root.glob(f"*/{DB_NAME}"))
