"""How much a session's database held when its writer last committed, kept beside it.

SQLite in WAL mode keeps recent commits in ``session.db-wal`` until a checkpoint copies them
into ``session.db``. If that file is deleted or damaged (a careless cleanup, a copy of the
``.db`` alone, a crash on a disk that lost writes), the database opens as a valid but older
session, and a resume would quietly run again trials that were done. The writer therefore
records, after every commit, the last event sequence number and the number of done trials in
``session.db-history``; every open compares the database with it and refuses, in one line,
a database that holds less than it once did.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UserError

SUFFIX = "-history"


@dataclass(frozen=True)
class Extent:
    """What a session database holds: its last event and how many trials are done."""

    seq: int = 0
    done: int = 0

    def covers(self, other: Extent) -> bool:
        return self.seq >= other.seq and self.done >= other.done


def path_for(db: Path) -> Path:
    return db.with_name(db.name + SUFFIX)


def measure(conn: sqlite3.Connection) -> Extent:
    seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
    done = conn.execute("SELECT COUNT(*) FROM trials WHERE status = 'done'").fetchone()[0]
    return Extent(int(seq), int(done))


def recorded(db: Path) -> Extent | None:
    """The extent the writer last recorded, or None (a session from before this file)."""
    try:
        data = json.loads(path_for(db).read_text())
        return Extent(int(data["seq"]), int(data["done"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # an unreadable record proves nothing either way


def record(db: Path, extent: Extent) -> None:
    """Note what the database now holds (atomically: a crash leaves the old note or the new)."""
    target = path_for(db)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(json.dumps({"seq": extent.seq, "done": extent.done}))
        os.replace(tmp, target)
    except OSError:  # a full disk: an older note only under-claims, which check() accepts
        tmp.unlink(missing_ok=True)


def check(conn: sqlite3.Connection, db: Path) -> Extent:
    """Refuse a database that lost commits it once had; returns what it holds.

    The note is read before the database is measured: the writer notes a commit only after
    making it, so every commit the note counts is visible to the measure that follows. The
    other order let a commit (and its note) land between the two, and a reader beside a
    running sweep then saw a database "holding less than its writer had committed"."""
    then = recorded(db)
    now = measure(conn)
    if then is not None and not now.covers(then):
        raise UserError(
            f"session database {db} has lost part of its history: it holds {now.done} done "
            f"trials and {now.seq} events, but its writer had committed {then.done} and "
            f"{then.seq} (was {db.name}-wal deleted, or an older copy restored?); restore the "
            "files, or resume with --accept-loss to run the lost trials again"
        )
    return now
