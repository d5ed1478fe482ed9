"""End to end in a real terminal: `autocapx tui` on an offline sweep inside tmux, keys in,
screen out; leave it running, re-attach, and find the sweep finished with nothing lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sweep_helpers import ROOT, write_config

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="needs tmux (the CI script installs it)"
)


SOCKET = f"autocapx-test-{os.getpid()}"
"""This test's own tmux server (never a tmux the developer, another test run or another test
of this run uses: a server being killed at the end of one test must not take the next test's
new session with it)."""


@pytest.fixture(autouse=True)
def own_tmux_server(request):
    global SOCKET
    SOCKET = f"autocapx-test-{os.getpid()}-{request.node.name[:40]}"
    yield
    tmux("kill-server")


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", SOCKET, *args], capture_output=True, text=True, timeout=20
    ).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-t", session, "-p")


def wait_for(session: str, text: str, timeout: float = 120.0) -> str:
    """Poll the screen of ``session`` until ``text`` is on it; fail after ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        shown = screen(session)
        if text in shown:
            return shown
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never appeared; screen:\n{screen(session)}")


def start_tui(config: Path, sessions: Path, size: str) -> None:
    """`autocapx tui CONFIG` in tmux session "ui" of this run's server, at ``size`` (WxH)."""
    width, height = size.split("x")
    launch = (
        f"cd {ROOT} && {sys.executable} -m engine tui {config} --sessions-dir {sessions}; "
        "echo console exited $?; sleep 600"  # the pane stays, so a failure shows what it said
    )
    tmux("new-session", "-d", "-s", "ui", "-x", width, "-y", height, launch)


@pytest.mark.slow
def test_tui_in_tmux_detach_and_reattach(tmp_path: Path) -> None:
    config = write_config(tmp_path / "s.toml", n=2, latency=0.001)
    sessions = tmp_path / "sessions"
    try:
        start_tui(config, sessions, "240x30")
        wait_for("ui", "1 Overview")
        tmux("send-keys", "-t", "ui", "2")
        wait_for("ui", "turns:")
        tmux("send-keys", "-t", "ui", "4")
        wait_for("ui", "first failed gate")
        tmux("send-keys", "-t", "ui", "q")
        wait_for("ui", "Leave it running")
        tmux("send-keys", "-t", "ui", "Enter")  # the default: leave it running
        shown = wait_for("ui", "re-attach with: ")
        # the command as it runs from here: `autocapx attach ID` on the PATH, else a path
        session_id = shown.split("re-attach with: ", 1)[1].split(" attach ", 1)[1].split()[0]
        db = sessions / session_id / "session.db"
        deadline = time.monotonic() + 120
        status = ""
        while time.monotonic() < deadline:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "engine",
                    "sessions",
                    "--json",
                    "--sessions-dir",
                    str(sessions),
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            ).stdout
            status = json.loads(out.splitlines()[0])["status"]
            if status == "finished":
                break
            time.sleep(1)
        assert status == "finished", "the sweep kept running after the console left"
        attach = f"cd {ROOT} && {sys.executable} -m engine attach {session_id} --sessions-dir {sessions}; sleep 60"
        tmux("new-session", "-d", "-s", "again", "-x", "100", "-y", "30", attach)
        shown = wait_for("again", "4/4 trials done")
        assert "FINISHED" in shown
        assert db.exists()
        tmux("send-keys", "-t", "again", "q")
    finally:
        tmux("kill-server")


def _session_row(sessions: Path) -> dict:
    import sqlite3

    [db] = sessions.glob("*/session.db")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT id, pid, status FROM session").fetchone())
    finally:
        conn.close()


@pytest.mark.slow
def test_at_80x24_a_killed_runner_is_seen_and_resumed_from_the_console(tmp_path: Path) -> None:
    import signal

    config = write_config(tmp_path / "s.toml", n=4, concurrency=1, latency=0.004)
    sessions = tmp_path / "sessions"
    try:
        start_tui(config, sessions, "80x24")
        wait_for("ui", "runner alive")
        first = _session_row(sessions)
        os.kill(first["pid"], signal.SIGKILL)
        shown = wait_for("ui", "RUNNER GONE", timeout=30)
        assert "q quit" in shown  # the key line fits 80 columns
        tmux("send-keys", "-t", "ui", "r")
        wait_for("ui", "Resume it")
        tmux("send-keys", "-t", "ui", "Enter")
        wait_for("ui", "runner alive", timeout=120)
        assert _session_row(sessions)["pid"] != first["pid"]
        wait_for("ui", "FINISHED", timeout=300)
        shown = wait_for("ui", "8/8 trials done")
        tmux("send-keys", "-t", "ui", "q")
    finally:
        tmux("kill-server")


def test_serve_puts_the_console_in_a_browser(tmp_path: Path) -> None:
    import socket
    import urllib.request

    from tests import tui_fixture

    sessions = tmp_path / "sessions"
    tui_fixture.build(sessions / "fixture-session")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "serve",
            "fixture-session",
            "--port",
            str(port),
            "--sessions-dir",
            str(sessions),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        page = None
        deadline = time.monotonic() + 120
        while page is None:  # until the server answers
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
            assert time.monotonic() < deadline, "the server never answered"
            try:
                page = (
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
                )
            except OSError:
                time.sleep(0.25)
        assert "autocapx fixture-session" in page and "<html" in page.lower()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
