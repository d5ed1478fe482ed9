"""The end of a sweep: each arm's rate and interval, where the session is, and next commands
that run as printed from where the user is."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from statsmodels.stats.proportion import proportion_confint

from engine.invocation import command_prefix
from engine.stats.ending import ending_lines
from engine.store.reader import SessionReader
from tests import tui_fixture
from tests.sweep_helpers import write_config

ROOT = Path(__file__).resolve().parent.parent


def test_the_prefix_is_what_runs_from_here(tmp_path: Path) -> None:
    script = tmp_path / ".venv" / "bin" / "autocapx"
    script.parent.mkdir(parents=True)
    script.write_text("")
    assert command_prefix(str(script), cwd=tmp_path, which=str(script)) == "autocapx"
    assert command_prefix(str(script), cwd=tmp_path, which="") == ".venv/bin/autocapx"
    other = tmp_path / "elsewhere" / "autocapx"
    assert command_prefix(str(script), cwd=tmp_path, which=str(other)) == ".venv/bin/autocapx"
    python = tmp_path / ".venv" / "bin" / "python"
    assert (
        command_prefix("/x/engine/__main__.py", cwd=tmp_path, which="", executable=str(python))
        == ".venv/bin/python -m engine"
    )


def test_the_rates_and_intervals_are_the_wilson_ones(tmp_path: Path, monkeypatch) -> None:
    db = tui_fixture.build(tmp_path / "sessions" / "fixture-session")
    monkeypatch.chdir(tmp_path)
    reader = SessionReader(db)
    try:
        lines = ending_lines(reader, db.parent, "running", "autocapx", Path("sessions"))
    finally:
        reader.close()
    # the fixture: P21_a 1 of 2 done trials succeeded, C2 2 of 2 (a hand count)
    for condition, k, n in (("P21_a", 1, 2), ("C2", 2, 2)):
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        line = next(x for x in lines if x.strip().startswith(f"{condition} ·"))
        assert f"{k}/{n} = {100 * k / n:3.0f}%  ({100 * low:.0f}–{100 * high:.0f}%)" in line
    assert "session: sessions/fixture-session" in lines
    assert "  autocapx resume fixture-session     # run the trials left" in lines
    assert any(x.startswith("  autocapx report fixture-session ") for x in lines)


def test_a_headless_sweep_ends_with_commands_that_run_as_printed(tmp_path: Path) -> None:
    write_config(tmp_path / "demo.toml", n=1)
    script = Path(sys.executable).parent / "autocapx"
    env = {
        "PATH": "/usr/bin:/bin",  # the virtualenv is not activated, as after `make demo`
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
    }
    done = subprocess.run(
        [str(script), "run", "demo.toml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert any(line.startswith("  P21_a · syn ") for line in out), done.stdout
    assert any(line.startswith("session: sessions/") for line in out), done.stdout
    report = next(line for line in out if " report " in line).split("#")[0]
    words = shlex.split(report)
    assert words[0] == str(script)  # not on this PATH, and far from here: its full path
    again = subprocess.run(words, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "report" in again.stdout.lower()
