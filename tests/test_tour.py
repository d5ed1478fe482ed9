"""The README's 60-second tour, run line by line as a new user would, in an empty directory
with the virtualenv activated (its bin first on PATH). The console line runs in tmux."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOCKET = f"autocapx-tour-{os.getpid()}"


def tour_lines() -> list[str]:
    """The commands of the tour block in README.md (comments dropped)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- tour -->", 1)[1].split("<!-- /tour -->", 1)[0]
    lines = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("```"):
            lines.append(line)
    return lines


def test_the_tour_is_there_and_starts_from_nothing() -> None:
    lines = tour_lines()
    assert lines[0] == "autocapx init"
    assert [line.split()[1] for line in lines] == [
        "init",
        "sim",
        "run",
        "sessions",
        "attach",
        "report",
    ]


def _env(tmp_path: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}:/usr/bin:/bin",  # as after `. .venv/bin/activate`
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
        "TERM": "xterm-256color",
    }


def _attach_in_tmux(command: str, cwd: Path, env: dict[str, str]) -> None:
    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", SOCKET, *args], capture_output=True, text=True, timeout=20, env=env
        ).stdout

    tmux("new-session", "-d", "-s", "tour", "-x", "120", "-y", "30", "-c", str(cwd), command)
    try:
        deadline = time.monotonic() + 120
        while "FINISHED" not in tmux("capture-pane", "-t", "tour", "-p"):  # the finished sweep
            assert time.monotonic() < deadline, tmux("capture-pane", "-t", "tour", "-p")
            time.sleep(0.2)
        tmux("send-keys", "-t", "tour", "q")
        deadline = time.monotonic() + 60
        while "tour" in tmux("list-sessions", "-F", "#{session_name}"):
            assert time.monotonic() < deadline, "the console did not leave on q"
            time.sleep(0.2)
    finally:
        tmux("kill-server")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (the CI script installs it)")
def test_every_line_of_the_tour_runs(tmp_path: Path) -> None:
    env = _env(tmp_path)
    session_id = ""
    for line in tour_lines():
        command = line.replace("<id>", session_id)
        if command.split()[1] == "attach":
            _attach_in_tmux(command, tmp_path, env)
            continue
        done = subprocess.run(
            shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"{command}: {done.stderr[-1500:]}"
        if command.split()[1] == "run":
            found = re.search(r"^session: sessions/(\S+)$", done.stdout, re.M)
            assert found, done.stdout
            session_id = found.group(1)
            assert re.search(r"^  P21_a · synthetic-weak .*\(\d+–\d+%\)$", done.stdout, re.M)
        if command.split()[1] == "sim":
            assert "SUCCESS" in done.stdout and list((tmp_path / "frames").glob("*.png"))
    assert (tmp_path / "sessions" / session_id / "report").is_dir() or list(
        tmp_path.rglob("report.md")
    )
