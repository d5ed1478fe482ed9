"""Crash-proof sessions: kill -9 the runner again and again; nothing lost, nothing counted twice."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.sweep_helpers import autocapx, done_rows, write_config


def _session_db(sessions: Path, timeout_s: float = 120.0) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = list(sessions.glob("*/session.db"))
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("no session was created")


def _count(db: Path, sql: str, args: tuple = ()) -> int:
    """One number from the session database; 0 while its schema is not there yet."""
    try:
        conn = sqlite3.connect(db, timeout=10)
        try:
            return int(conn.execute(sql, args).fetchone()[0] or 0)
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the file appears a moment before its tables
        return 0


def _max_run_id(db: Path) -> int:
    return _count(db, "SELECT MAX(run_id) FROM trials")


def _in_flight(db: Path, proc, after_run_id: int, min_done: int, timeout_s: float = 120.0) -> None:
    """Wait until ``proc`` has a trial in flight, one of its own (a run begun after
    ``after_run_id``, its code running in the sandbox), with at least ``min_done`` trials done."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the runner ended ({proc.returncode}) before it was killed"
        running = _count(
            db,
            "SELECT COUNT(*) FROM trials t JOIN events e ON e.run_id = t.run_id "
            "AND e.kind = 'exec_started' WHERE t.status = 'running' AND t.run_id > ?",
            (after_run_id,),
        )
        done = _count(db, "SELECT COUNT(*) FROM trials WHERE status = 'done'")
        if running and done >= min_done:
            return
        time.sleep(0.05)
    raise AssertionError("no trial of the runner reached its sandbox")


@pytest.mark.slow
def test_kill_minus_nine_ten_times_then_resume_gives_exact_counts(tmp_path: Path) -> None:
    """Each kill lands while a trial of the runner is in flight: every third one after one
    more trial has been done (so finished trials live through later kills), the others as soon
    as the runner's code reaches the sandbox, so that few trials end between kills. 20 trials:
    far more than can be done before the tenth kill, so there is always one to kill."""
    sessions = tmp_path / "sessions"
    config = write_config(tmp_path / "sweep.toml", n=10, concurrency=2, latency=0.0005)
    proc = autocapx("run", str(config), sessions=sessions)
    db = _session_db(sessions)
    session_id = db.parent.name
    seen: dict[str, tuple] = {}
    kills, after = 0, 0  # runs up to `after` were begun by runners already killed
    while kills < 10:
        min_done = len(done_rows(db)) + 1 if kills % 3 == 1 else 0
        _in_flight(db, proc, after, min_done=min_done)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        now = done_rows(db)
        for key, row in seen.items():
            assert now[key] == row, f"completed trial {key} changed after a kill"
        seen.update(now)
        after = _max_run_id(db)
        proc = autocapx("resume", session_id, sessions=sessions)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    final = done_rows(db)
    assert kills >= 10
    assert seen, "some trials were done before the last kill"
    assert len(final) == 20, "every planned trial is done exactly once"
    for key, row in seen.items():
        assert final[key] == row, f"completed trial {key} changed"
    conn = sqlite3.connect(db)
    dupes = conn.execute(
        "SELECT trial_key, COUNT(*) FROM trials WHERE status = 'done' GROUP BY trial_key HAVING COUNT(*) > 1"
    ).fetchall()
    abandoned = conn.execute("SELECT COUNT(*) FROM trials WHERE status = 'abandoned'").fetchone()[0]
    orphan_blocks = conn.execute(
        "SELECT COUNT(*) FROM blocks b JOIN trials t ON t.run_id = b.run_id WHERE t.status = 'running'"
    ).fetchone()[0]
    status = conn.execute("SELECT status FROM session").fetchone()[0]
    conn.close()
    assert dupes == []
    assert abandoned >= 1, (
        "some kills should have hit trials in flight (their runs kept as abandoned)"
    )
    assert orphan_blocks == 0
    assert status == "finished"
