"""Drills on the runner and its database: kill -9 again and again, another process holding
the lock, the write-ahead log deleted under a running sweep, a damaged page."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.store import history, waiting
from engine.store.reader import SessionReader
from tests.sweep_helpers import autocapx, write_config

DEADLINE_S = 180.0
RESULT = ("final_success", "any_success", "n_blocks", "regenerations", "end_reason")


def _until(what: str, condition, proc=None, timeout_s: float = DEADLINE_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the runner ended ({proc.returncode}) while waiting for {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _count(db: Path, sql: str) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return int(conn.execute(sql).fetchone()[0] or 0)
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def _done(db: Path) -> int:
    return _count(db, "SELECT COUNT(*) FROM trials WHERE status = 'done'")


def _results(db: Path) -> dict[str, tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cols = ", ".join(RESULT)
        rows = conn.execute(f"SELECT trial_key, {cols} FROM trials WHERE status = 'done'")
        return {r[0]: tuple(r[1:]) for r in rows}
    finally:
        conn.close()


def _db_of(sessions: Path, proc=None) -> Path:
    found = _until("the session", lambda: list(sessions.glob("*/session.db")), proc)
    return found[0]


def _kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_runner_kill_nine_times_matches_an_uninterrupted_run(tmp_path: Path, drill) -> None:
    config = write_config(tmp_path / "s.toml", n=4, concurrency=2, latency=0.0005)
    clean = tmp_path / "clean"
    ran = autocapx("run", str(config), sessions=clean)
    assert ran.wait() == 0
    expected = _results(_db_of(clean))
    killed = tmp_path / "killed"
    proc = autocapx("run", str(config), sessions=killed)
    db = _db_of(killed, proc)
    kills = 0
    while kills < 9:
        before = _count(db, "SELECT COUNT(*) FROM events WHERE kind = 'exec_started'")
        _until(
            "a block in the sandbox",
            lambda before=before: (
                _count(db, "SELECT COUNT(*) FROM events WHERE kind = 'exec_started'") > before
            ),
            proc,
        )
        _kill(proc)
        kills += 1
        if _done(db) == len(expected):
            break
        proc = autocapx("resume", db.parent.name, sessions=killed)
    if proc.poll() is not None:  # the last one was killed: one more resume finishes it
        proc = autocapx("resume", db.parent.name, sessions=killed)
    _, err = proc.communicate()  # the runner still going is left to finish, not raced
    assert proc.returncode == 0, err
    got = _results(db)
    keys = _count(db, "SELECT COUNT(DISTINCT trial_key) FROM trials WHERE status = 'done'")
    held = got == expected and keys == len(expected)
    drill(
        f"runner kill -9 x{kills}, then resume",
        f"{len(got)}/{len(expected)} trials done, {len(got) - keys} duplicates, "
        f"{sum(got.get(k) != v for k, v in expected.items())} differ from an uninterrupted run",
        held,
    )
    assert got == expected and keys == len(expected)


@pytest.mark.slow
def test_a_lock_held_longer_than_sqlites_timeout_is_ridden_out(tmp_path: Path, drill) -> None:
    config = write_config(tmp_path / "s.toml", n=3, concurrency=1, latency=0.0005)
    sessions = tmp_path / "sessions"
    proc = autocapx("run", str(config), sessions=sessions)
    db = _db_of(sessions, proc)
    _until("a first trial", lambda: _done(db) >= 1, proc)
    held_s = 12.0  # longer than SQLite's 10 s busy timeout, which used to end the sweep
    conn = sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")  # the write lock: what a long write or a backup takes
    released = threading.Timer(held_s, lambda: conn.execute("COMMIT"))
    released.start()
    try:
        said = _until("the runner to say it waits", lambda: waiting.waited_s(db) is not None, proc)
        out, err = proc.communicate(timeout=600)
    finally:
        released.join()
        conn.close()
    reader = SessionReader(db)
    try:
        waits = [s.event.seconds for s in reader.events_since(0, kinds=("store_waited",))]
        progress = reader.progress()
    finally:
        reader.close()
    held = proc.returncode == 0 and progress["done"] == 6 and waits and max(waits) >= 5 and said
    drill(
        f"write lock held {held_s:.0f} s by another process",
        f"exit {proc.returncode}, {progress['done']}/6 done, waited up to "
        f"{max(waits, default=0):.1f} s",
        held,
    )
    assert proc.returncode == 0, err
    assert progress["done"] == 6 and waits and max(waits) >= 5
    assert "waiting for the database" in err  # said even with --quiet
    assert waiting.waited_s(db) is None  # the note beside the database is gone again


def test_the_wal_is_checkpointed_into_the_database_file(tmp_path: Path, drill) -> None:
    """A copy of session.db alone (no -wal) holds the trials a running writer committed."""
    from engine.trial.records import TrialRecord
    from tests.sweep_helpers import begin_run, new_session

    writer = new_session(tmp_path / "session.db")
    writer.checkpoint_every_s = 0.0
    for i in range(3):
        run = begin_run(writer, f"k{i}", index=i)
        writer.finish_run(run, TrialRecord(f"k{i}", "cube_lift", i, "synthetic", "m", True))
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(tmp_path / "session.db", copy / "session.db")  # the .db file only
    found = _done(copy / "session.db")
    writer.close()
    drill("database file alone while the writer runs", f"{found}/3 done trials in it", found == 3)
    assert found == 3


@pytest.mark.slow
def test_a_deleted_wal_is_noticed_and_never_silently_rerun(tmp_path: Path, drill) -> None:
    config = write_config(tmp_path / "s.toml", n=6, concurrency=1, latency=0.0005)
    sessions = tmp_path / "sessions"
    proc = autocapx("run", str(config), sessions=sessions)
    db = _db_of(sessions, proc)
    _until("two trials", lambda: _done(db) >= 2, proc)
    Path(f"{db}-wal").unlink()  # a careless cleanup while the sweep runs
    marked = _until(
        "two more trials",
        lambda: (history.recorded(db) or history.Extent()).done >= 4 and history.recorded(db),
        proc,
    )
    _kill(proc)  # ... and then the runner dies
    left = _done(db)
    code = main(["export", db.parent.name, "--sessions-dir", str(sessions), "-o", os.devnull])
    refused = main(["resume", db.parent.name, "--sessions-dir", str(sessions), "--quiet"])
    accepted = main(
        ["resume", db.parent.name, "--sessions-dir", str(sessions), "--quiet", "--accept-loss"]
    )
    results = _results(db)
    total = 12
    lost = [s.event for s in SessionReader(db).events_since(0, kinds=("history_lost",))]
    held = code != 0 and refused != 0 and accepted == 0 and len(results) == total and lost
    drill(
        "session.db-wal deleted, then the runner killed",
        f"{left} of >= {marked.done} done trials in the file; export and resume refused; "
        f"--accept-loss finished {len(results)}/{total}",
        held,
    )
    assert code != 0 and refused != 0, "a database that lost commits is refused"
    assert accepted == 0 and len(results) == total
    assert lost and lost[0].had_done >= 4


def test_a_damaged_page_is_one_line_and_nothing_is_written(tmp_path: Path, drill, capsys) -> None:
    from tests import tui_fixture

    db = tui_fixture.build(tmp_path / "sessions" / "fixture-session")
    size = db.stat().st_size
    page = 4096
    assert size >= 4 * page
    with db.open("r+b") as f:
        f.seek(2 * page)
        f.write(os.urandom(page))
    before = db.read_bytes()
    codes = [
        main(["resume", "fixture-session", "--sessions-dir", str(tmp_path / "sessions")]),
        main(["export", "fixture-session", "--sessions-dir", str(tmp_path / "sessions")]),
    ]
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line]
    held = all(c != 0 for c in codes) and db.read_bytes() == before and len(lines) == 2
    drill(
        "a damaged page in session.db", f"exits {codes}, {len(lines)} lines, file unchanged", held
    )
    assert all(c != 0 for c in codes)
    assert all(line.startswith("autocapx: error: ") for line in lines), err
    assert db.read_bytes() == before
