"""The runner's heartbeat: viewers tell alive, stalled, gone and ended, and refuse commands
that would wait for nobody."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from engine.cpu_priority import RUNNER_NICE
from engine.errors import UserError
from engine.store.liveness import ALIVE_S, GONE_S, STARTING_S, classify
from engine.store.reader import SessionReader
from tests.sweep_helpers import autocapx, write_config

NOW = 1_000_000.0


def state(**kw) -> str:
    row = dict(status="running", pid=42, host="here", heartbeat_at=NOW - 1, created_at=NOW - 500)
    row.update(kw)
    lives = row.pop("lives", True)
    return classify(**row, now=NOW, this_host="here", is_running=lambda pid: lives).state


def test_heartbeat_age_and_process_decide_the_state() -> None:
    assert state() == "alive"
    assert state(heartbeat_at=NOW - ALIVE_S - 1) == "stalled"  # process lives, no beat
    assert state(heartbeat_at=NOW - 10 * GONE_S) == "stalled"  # lives: never called gone
    assert state(lives=False) == "gone"  # a dead process is gone at once, fresh beat or not
    assert state(host="elsewhere", heartbeat_at=NOW - GONE_S - 1) == "gone"
    assert state(host="elsewhere", heartbeat_at=NOW - ALIVE_S - 1) == "stalled"
    assert state(status="finished", lives=False) == "ended"
    assert state(status="stopped") == "ended"


def test_a_new_session_is_starting_until_its_runner_beats() -> None:
    # run --detach: the creating process exits before the runner it started first beats
    young = dict(status="created", heartbeat_at=None, created_at=NOW - 5, lives=False)
    assert state(**young) == "starting"
    assert state(**{**young, "created_at": NOW - STARTING_S - 1}) == "gone"
    assert state(status="running", heartbeat_at=None, lives=False) == "gone"


def _db(sessions: Path, proc) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list(sessions.glob("*/session.db"))
        if found:
            return found[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no session")


def _until_state(db: Path, wanted: str, timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    seen = ""
    while time.monotonic() < deadline:
        reader = SessionReader(db)
        try:
            seen = reader.runner_state().state
        finally:
            reader.close()
        if seen == wanted:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"runner state stayed {seen!r}, never {wanted!r}")


@pytest.mark.slow
def test_a_killed_runner_is_gone_and_commands_to_it_are_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path / "s.toml", n=20, concurrency=1, latency=0.3)
    sessions = tmp_path / "sessions"
    proc = autocapx("run", str(config), sessions=sessions)
    db = _db(sessions, proc)
    _until_state(db, "alive")
    reader = SessionReader(db)
    try:
        assert reader.send_command("pause") > 0  # a live runner takes commands
        runner_pid = reader.session()["pid"]
    finally:
        reader.close()
    # the sweep yields the CPU to the console and the shell: its runner runs niced
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, runner_pid) == max(ours, RUNNER_NICE)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _until_state(db, "gone", timeout_s=3.0)  # the console's promise: within 3 s
    before = db.stat().st_size, (db.parent / "session.db-wal").stat().st_size
    reader = SessionReader(db)
    try:
        with pytest.raises(UserError, match="no runner is alive to take 'stop'.*resume"):
            reader.send_command("stop")
    finally:
        reader.close()
    assert (db.stat().st_size, (db.parent / "session.db-wal").stat().st_size) == before
