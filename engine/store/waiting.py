"""A note beside the database while its writer waits for another process's lock.

While the lock is held nobody can write to the database, so the runner cannot say there that
it is waiting; readers (the console, ``sessions``) can still read, and they read this note:
``session.db-waiting`` holds when the wait began and the runner's pid, and is removed as soon
as the write goes through.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

SUFFIX = "-waiting"


def path_for(db: Path) -> Path:
    return db.with_name(db.name + SUFFIX)


def note(db: Path, since: float) -> None:
    with contextlib.suppress(OSError):
        path_for(db).write_text(json.dumps({"since": since, "pid": os.getpid()}))


def clear(db: Path) -> None:
    with contextlib.suppress(OSError):
        path_for(db).unlink(missing_ok=True)


def waited_s(db: Path, now: float | None = None) -> float | None:
    """How long the runner has been waiting for the lock, or None if it is not (or is gone)."""
    try:
        data = json.loads(path_for(db).read_text())
        since, pid = float(data["since"]), int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a note left by a runner that died while waiting
    except PermissionError:
        pass
    return max(0.0, (now or time.time()) - since)
