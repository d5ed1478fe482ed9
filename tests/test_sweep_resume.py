"""Crash-proof sessions: kill -9 the runner again and again; nothing lost, nothing counted twice."""

from __future__ import annotations

import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.sweep_helpers import autocapx, done_rows, write_config


def _session_db(sessions: Path) -> Path:
    for _ in range(100):
        found = list(sessions.glob("*/session.db"))
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("no session was created")


@pytest.mark.slow
def test_kill_minus_nine_ten_times_then_resume_gives_exact_counts(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    config = write_config(tmp_path / "sweep.toml", n=6, concurrency=2, latency=0.0005)
    rng = random.Random(1234)
    proc = autocapx("run", str(config), sessions=sessions)
    db = _session_db(sessions)
    session_id = db.parent.name
    seen: dict[str, tuple] = {}
    kills = 0
    while kills < 10:
        time.sleep(rng.uniform(1.0, 3.5))
        if proc.poll() is not None:
            break  # finished before we could kill it again
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        now = done_rows(db)
        for key, row in seen.items():
            assert now[key] == row, f"completed trial {key} changed after a kill"
        seen.update(now)
        proc = autocapx("resume", session_id, sessions=sessions)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    final = done_rows(db)
    assert kills >= 10
    assert len(final) == 12, "every planned trial is done exactly once"
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
