"""Sessions end to end: run, commands, resume rules, listing, export, and bad databases."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.config import load_config
from engine.errors import UserError
from engine.store.reader import SessionReader
from engine.store.sessions import find_session
from engine.store.writer import SessionWriter
from engine.sweep.session import create_session, execute_session, runner_lock
from tests.sweep_helpers import autocapx, done_rows, new_session, write_config


def test_run_lists_exports_and_never_overwrites(tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path / "s.toml", n=1)
    sessions = tmp_path / "sessions"
    assert main(["run", str(config), "--sessions-dir", str(sessions)]) == 0
    out = capsys.readouterr().out
    assert "(SYNTHETIC offline coder): 2 trials" in out
    import re

    assert re.search(r"^\[2/2\] r0/\w+/syn/0000 seed 0: ", out, re.M)  # one line per trial, no TTY
    assert main(["run", str(config), "--sessions-dir", str(sessions)]) == 0
    dbs = sorted(sessions.glob("*/session.db"))
    assert len(dbs) == 2
    capsys.readouterr()
    assert main(["sessions", "--sessions-dir", str(sessions), "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["status"], r["done"], r["total"], r["synthetic"]) for r in listed] == [
        ("finished", 2, 2, True)
    ] * 2
    session_id = dbs[0].parent.name
    assert (
        main(
            [
                "export",
                session_id,
                "--sessions-dir",
                str(sessions),
                "--format",
                "jsonl",
                "--what",
                "trials",
            ]
        )
        == 0
    )
    trials = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(trials) == 2 and all(t["status"] == "done" and t["synthetic"] == 1 for t in trials)
    assert main(["export", session_id, "--sessions-dir", str(sessions), "--what", "blocks"]) == 0
    csv_text = capsys.readouterr().out
    assert csv_text.splitlines()[0].startswith("id,run_id,trial_key,idx,decision")
    out_file = tmp_path / "decisions.csv"
    assert (
        main(
            [
                "export",
                session_id,
                "--sessions-dir",
                str(sessions),
                "--what",
                "decisions",
                "-o",
                str(out_file),
            ]
        )
        == 0
    )
    assert out_file.read_text().startswith("id,at,who,action")


async def test_pause_resume_and_stop_commands_reach_the_runner(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "s.toml", n=4, concurrency=1, latency=0.001))
    directory = create_session(config, tmp_path / "sessions")
    reader = SessionReader(directory / "session.db")
    task = asyncio.create_task(execute_session(directory, config, quiet=True))
    await _until(lambda: len(reader.trials()) > 0)  # the sweep is under way
    reader.send_command("pause", who="tester")
    await _until(lambda: reader.session()["status"] == "paused")
    started = len(reader.trials())

    def none_started() -> bool:
        assert len(reader.trials()) == started, "a trial was started while paused"
        return True

    # The trial in flight may finish; no new one may start. Wait until it has finished, then
    # until the runner has answered one more command (so its loop ran on after that trial).
    await _until(lambda: none_started() and not reader.trials(status="running"))
    again = reader.send_command("pause", who="tester")
    await _until(lambda: none_started() and (reader.command(again) or {}).get("result"))
    assert len(reader.trials()) == started and not reader.trials(status="running")
    assert reader.session()["status"] == "paused"
    reader.send_command("resume")
    await _until(lambda: len(reader.trials()) > started)
    stop = reader.send_command("stop")
    status = await asyncio.wait_for(task, 60)
    assert status == "stopped" and reader.session()["status"] == "stopped"
    assert reader.command(stop)["result"] == "stopping"
    assert {t["status"] for t in reader.trials()} <= {"done", "abandoned"}
    assert any(t["status"] == "abandoned" for t in reader.trials())
    kinds = {e.kind for e in reader.events_since(0, limit=100000)}
    assert {"trial_started", "llm_delta", "exec_result", "command", "session_state"} <= kinds


async def _until(predicate, timeout: float = 120.0) -> None:
    """Poll ``predicate`` (yielding to the event loop) until it holds; fail after ``timeout``."""
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout, "condition not reached"
        await asyncio.sleep(0.1)


def test_resume_refuses_a_changed_config_unless_forced(tmp_path: Path, capsys) -> None:
    path = write_config(tmp_path / "s.toml", n=1)
    sessions = tmp_path / "sessions"
    directory = create_session(load_config(path), sessions, path)
    path.write_text(
        path.read_text().replace("trials_per_condition = 1", "trials_per_condition = 2")
    )
    assert main(["resume", directory.name, "--sessions-dir", str(sessions)]) == 2
    assert "changed since session" in capsys.readouterr().err
    assert (
        main(["resume", directory.name, "--sessions-dir", str(sessions), "--force", "--quiet"]) == 0
    )
    assert len(done_rows(directory / "session.db")) == 4


def test_only_one_runner_per_session(tmp_path: Path) -> None:
    directory = create_session(
        load_config(write_config(tmp_path / "s.toml")), tmp_path / "sessions"
    )
    with runner_lock(directory):
        with pytest.raises(UserError, match="is already being run"):
            with runner_lock(directory):
                pass


def test_unknown_missing_corrupt_and_locked_databases_are_clear_errors(
    tmp_path: Path, capsys
) -> None:
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    with pytest.raises(UserError, match="unknown session 'nope'"):
        find_session(sessions, "nope")
    with pytest.raises(UserError, match="no session database at"):
        SessionReader(tmp_path / "missing.db")
    corrupt = sessions / "corrupt" / "session.db"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"this is not sqlite" * 100)
    assert main(["export", "corrupt", "--sessions-dir", str(sessions)]) == 2
    err = capsys.readouterr().err
    assert "is corrupt or not a session database" in err and err.count("\n") == 1
    assert corrupt.read_bytes() == b"this is not sqlite" * 100, "nothing was rewritten"
    # A database whose pages were damaged after it was written.
    good = sessions / "damaged" / "session.db"
    good.parent.mkdir()
    SessionWriter(good).close()
    data = bytearray(good.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    good.write_bytes(bytes(data))
    with pytest.raises(UserError, match="corrupt"):
        SessionReader(good, check=True)
    # Locked: another process holds an exclusive transaction.
    locked = tmp_path / "locked.db"
    new_session(locked).close()  # a session whose runner (this process) is alive ...
    holder = sqlite3.connect(locked, isolation_level=None)  # ... and another process's lock
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(UserError, match="is locked by another process"):
            reader = SessionReader(locked, timeout_s=0.3)
            reader.send_command("pause")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.slow
def test_a_reader_stays_consistent_while_the_writer_runs(tmp_path: Path) -> None:
    config = write_config(tmp_path / "s.toml", n=3, concurrency=2)
    sessions = tmp_path / "sessions"
    proc = autocapx("run", str(config), sessions=sessions)
    db = _created_session(sessions, proc)
    reader = SessionReader(db)
    last_done, last_seq, checks = 0, 0, 0
    deadline = time.monotonic() + 300
    while proc.poll() is None or checks < 3:
        assert time.monotonic() < deadline, "the sweep did not end"
        progress = reader.progress()
        assert progress["done"] >= last_done, "completed trials never disappear"
        last_done = progress["done"]
        for trial in reader.trials(status="done"):
            blocks = reader.blocks(trial["run_id"])
            executed = [b for b in blocks if b["executed"]]
            assert len(executed) == trial["n_blocks"], "a done trial always has all its blocks"
        events = reader.events_since(last_seq)
        assert [e.seq for e in events] == sorted(e.seq for e in events)
        if events:
            assert events[0].seq > last_seq
            last_seq = events[-1].seq
        checks += 1
        time.sleep(0.2)
    assert proc.returncode == 0 and reader.progress()["done"] == 6


def _created_session(sessions: Path, proc, timeout: float = 120.0) -> Path:
    """The session database ``proc`` creates under ``sessions``, once its session row is in
    (the file appears a moment before its schema)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for db in sessions.glob("*/session.db"):
            try:
                conn = sqlite3.connect(db, timeout=10)
                try:
                    if conn.execute("SELECT COUNT(*) FROM session").fetchone()[0]:
                        return db
                finally:
                    conn.close()
            except sqlite3.OperationalError:
                pass  # no schema yet
        assert proc.poll() is None, f"the runner exited ({proc.returncode}) before its session"
        time.sleep(0.05)
    raise AssertionError("no session was created")


def test_a_dead_api_halts_the_sweep_and_counts_nothing(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config = tmp_path / "dead.toml"
    config.write_text(
        "[session]\ntrials_per_condition = 8\nconcurrency = 1\nquality = 'fast'\n"
        "[[backbones]]\nname = 'dead'\nbackend = 'openai'\nmodel = 'm'\n"
        "base_url = 'http://127.0.0.1:9/v1'\nmax_retries = 0\ntimeout_s = 2\n"
        "[[conditions]]\nname = 'P21_a'\n"
    )
    sessions = tmp_path / "sessions"
    assert main(["run", str(config), "--sessions-dir", str(sessions)]) == 3
    out = capsys.readouterr().out
    assert "sweep halted: 5 trials in a row failed" in out and "cannot reach" in out
    db = next(sessions.glob("*/session.db"))
    assert done_rows(db) == {}
    statuses = [t["status"] for t in SessionReader(db).trials()]
    assert statuses == ["error"] * 5
