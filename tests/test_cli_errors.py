"""Issue 16, items 6, 7 and 11: bad files, damaged pages, unusable places and a missing GL
driver each end a command in one line (``autocapx: error: ...``), never a traceback, and no
read command writes to what it reads.

The drills that count (every damaged page, disk full mid-sweep, each bad file against every
read command) are in ``tests/drills/test_cli_drills.py``, on the helpers here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cli import main
from tests.sweep_helpers import write_config
from tests.tui_fixture import build

ROOT = Path(__file__).resolve().parent.parent

READ_COMMANDS = (
    ("export", "{id}"),
    ("export", "{id}", "--what", "blocks"),
    ("report", "{id}"),
    ("skills", "list", "{id}"),
    ("skills", "usage", "{id}"),
)
"""Read commands that take one session (``sessions`` lists them all)."""


# ------------------------------------------------------------------------------ helpers
def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``autocapx ARGS`` in this process: (exit status, stdout, stderr). A traceback (an
    exception main() did not turn into one line) fails the calling test."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except Exception as exc:  # pragma: no cover - what these tests exist to catch
        pytest.fail(f"autocapx {' '.join(args)} raised {type(exc).__name__}: {exc}")
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> bool:
    """stderr is exactly one ``autocapx: error:`` line."""
    return err.count("\n") == 1 and err.startswith("autocapx: error: ")


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file in a session directory with its bytes (a read must leave it as it was)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def make_good(root: Path, name: str = "good-session") -> Path:
    """A finished session (tests/tui_fixture.py) under ``root``; its database."""
    build(root / name, running=False)
    return root / name / "session.db"


def make_empty(root: Path, name: str = "empty-1") -> Path:
    db = root / name / "session.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    return db


def make_foreign(root: Path, name: str = "foreign-1", *, wal: bool = False) -> Path:
    """An SQLite database of something else (a table ``foo``), in WAL mode if ``wal``."""
    db = root / name / "session.db"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE foo (x)")
    conn.execute("INSERT INTO foo VALUES (1)")
    conn.commit()
    conn.close()
    assert not db.with_name("session.db-wal").exists()
    return db


BAD_FILES = {
    "0-byte": make_empty,
    "foreign SQLite": make_foreign,
    "foreign SQLite in WAL mode": lambda root: make_foreign(root, "foreign-wal", wal=True),
}


def garble_page(db: Path, page: int, size: int = 4096) -> None:
    """Write garbage over page ``page`` (1-based) of the database file."""
    with db.open("r+b") as handle:
        handle.seek((page - 1) * size)
        handle.write(b"\xde\xad\xbe\xef" * (size // 4))


def garble_schema_text(db: Path) -> None:
    """Put a byte that is not UTF-8 into the schema: SQLite then quotes it in its own error
    message, which Python's sqlite3 cannot decode (it raised UnicodeDecodeError)."""
    data = db.read_bytes()
    needle = b"ON trials(status)"
    assert data.count(needle) == 1
    db.write_bytes(data.replace(needle, b"ON \xffrials(status)"))


def page_count(db: Path) -> int:
    return db.stat().st_size // 4096


def can_mount() -> str | None:
    """Why a tmpfs cannot be mounted here (None: it can)."""
    if os.name != "posix" or os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` for the block; skips the test where mounting fails."""
    why = can_mount()
    if why:
        pytest.skip(why)
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


# ------------------------------------------------------------------- item 6: bad files
@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_session_file_is_refused_in_one_line_and_never_touched(
    tmp_path: Path, capsys, kind: str
) -> None:
    db = BAD_FILES[kind](tmp_path)
    session = db.parent.name
    before = snapshot(db.parent)
    for command in READ_COMMANDS:
        args = [a.format(id=session) for a in command]
        code, out, err = run_cli(capsys, *args, "--sessions-dir", str(tmp_path))
        assert code == 2, (args, code, out)
        assert one_line_error(err), (args, err)
        assert "is not an autocapx session database" in err, err
        assert snapshot(db.parent) == before, f"{args} wrote into {db.parent}"
    assert sorted(before) == ["session.db"], "no -wal, -shm or report beside it"


def test_the_refusal_says_what_the_file_is(tmp_path: Path, capsys) -> None:
    make_empty(tmp_path)
    make_foreign(tmp_path)
    code, _, err = run_cli(capsys, "export", "empty-1", "--sessions-dir", str(tmp_path))
    assert code == 2 and "(it is empty: 0 bytes)" in err
    code, _, err = run_cli(capsys, "report", "foreign-1", "--sessions-dir", str(tmp_path))
    assert code == 2 and "an SQLite database of something else: tables foo" in err


def test_sessions_lists_the_good_and_flags_the_bad_with_status_1(tmp_path: Path, capsys) -> None:
    make_good(tmp_path)
    bad = {kind: make(tmp_path) for kind, make in BAD_FILES.items()}
    before = {kind: snapshot(db.parent) for kind, db in bad.items()}
    code, out, err = run_cli(capsys, "sessions", "--sessions-dir", str(tmp_path))
    assert code == 1, "complete list, but some sessions cannot be read"
    assert one_line_error(err) and "3 of 4 sessions cannot be read" in err, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "finished" in rows["fixture-session"] and "4/6" in rows["fixture-session"]
    assert "unreadable" in rows["empty-1"] and "it is empty: 0 bytes" in rows["empty-1"]
    assert "tables foo" in rows["foreign-1"] and "tables foo" in rows["foreign-wal"]
    code, out, _ = run_cli(capsys, "sessions", "--json", "--sessions-dir", str(tmp_path))
    assert code == 1 and len(out.splitlines()) == 4
    assert {kind: snapshot(db.parent) for kind, db in bad.items()} == before
    # Only good sessions: status 0 as before.
    shutil.rmtree(tmp_path / "empty-1")
    shutil.rmtree(tmp_path / "foreign-1")
    shutil.rmtree(tmp_path / "foreign-wal")
    code, out, err = run_cli(capsys, "sessions", "--sessions-dir", str(tmp_path))
    assert code == 0 and err == "" and "fixture-session" in out


# ------------------------------------------------------------- item 7: damaged pages
def test_text_that_is_not_utf8_is_one_line_for_every_read_command(tmp_path: Path, capsys) -> None:
    db = make_good(tmp_path)
    garble_schema_text(db)
    before = db.read_bytes()
    for command in (*READ_COMMANDS, ("sessions",)):
        args = [a.format(id="good") for a in command]
        code, out, err = run_cli(capsys, *args, "--sessions-dir", str(tmp_path))
        assert code in (1, 2), (args, code, out)
        assert one_line_error(err), (args, err)
        if command != ("sessions",):
            assert "is corrupt" in err, err
    assert db.read_bytes() == before


def test_report_refuses_a_database_with_a_damaged_page(tmp_path: Path, capsys) -> None:
    """A report relies on every row: one page of garbage anywhere (here the events table's,
    which the report does not read) is refused, not reported on in part."""
    db = make_good(tmp_path)
    conn = sqlite3.connect(db)
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    conn.close()
    garble_page(db, page)
    before = db.read_bytes()
    code, out, err = run_cli(capsys, "report", "good", "--sessions-dir", str(tmp_path))
    assert code == 2, out
    assert one_line_error(err) and "corrupt" in err, err
    assert db.read_bytes() == before
    assert not (db.parent / "report").exists()


# --------------------------------------------------- item 7: unusable sessions directory
def test_sessions_dir_that_is_a_file_is_one_line_for_every_command(tmp_path: Path, capsys) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a directory\n")
    config = write_config(tmp_path / "c.toml", n=1)
    for args in (
        ("run", str(config), "--quiet"),
        ("sessions",),
        ("export", "x"),
        ("report", "x"),
        ("skills", "list", "x"),
        ("resume", "x"),
    ):
        code, _, err = run_cli(capsys, *args, "--sessions-dir", str(afile))
        assert code == 2, args
        assert one_line_error(err) and "is a file, not a directory" in err, (args, err)
    assert afile.read_text() == "not a directory\n"


def test_read_only_sessions_dir(tmp_path: Path, capsys) -> None:
    """``run`` cannot create a session there, and says so in one line before creating
    anything; read commands read a finished session there without creating anything."""
    root = tmp_path / "ro"
    with tmpfs(root, "16m"):
        make_good(root)
        remount(root, "ro")
        before = snapshot(root / "good-session")
        config = write_config(tmp_path / "c.toml", n=1)
        code, _, err = run_cli(capsys, "run", str(config), "--quiet", "--sessions-dir", str(root))
        assert code == 2 and one_line_error(err), err
        assert "cannot create a session under" in err and "read-only file system" in err
        for command in READ_COMMANDS:  # a finished session reads as it is (immutable)
            args = [a.format(id="good") for a in command]
            code, out, err = run_cli(capsys, *args, "--sessions-dir", str(root))
            if command[0] == "report":  # it has nowhere to write its files: one line
                assert code == 2 and one_line_error(err) and "Read-only" in err, err
            else:
                assert code == 0 and err == "" and out, (args, err)
        code, out, err = run_cli(capsys, "sessions", "--sessions-dir", str(root))
        assert code == 0 and err == "" and "finished" in out
        assert sorted(p.name for p in root.iterdir()) == ["good-session"]
        assert snapshot(root / "good-session") == before


# ----------------------------------------------------------- item 7: a full disk, output
def test_export_to_a_full_stdout_is_one_line(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    make_good(tmp_path)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "engine", "export", "good", "--sessions-dir", str(tmp_path)],
            cwd=ROOT,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr
        == "autocapx: error: cannot write the export to stdout: No space left on device\n"
    )


def test_a_full_disk_is_explained_with_what_to_do() -> None:
    from engine.store.db import _explain

    full = sqlite3.OperationalError("database or disk is full")
    message = str(_explain(Path("sessions/20260101-000000-demo-abcd/session.db"), full))
    assert "the disk is full" in message and "everything committed before is kept" in message
    assert "autocapx resume 20260101-000000-demo-abcd" in message


# ------------------------------------------------------------- item 11: the GL message
def test_gl_advice_names_only_what_is_missing() -> None:
    from engine.sim.gl import GLProbe, advice, missing_packages

    dri = ("/usr/lib/x86_64-linux-gnu/dri",)
    no_driver = GLProbe(libegl=True, libegl_mesa=True, dri_driver=False, dri_dirs=dri)
    text = advice(no_driver, "egl")
    assert "libgl1-mesa-dri" in text and "swrast_dri.so" in text and dri[0] in text
    assert "libegl1" not in text and "libegl-mesa0" not in text
    assert missing_packages(no_driver) == ["libgl1-mesa-dri"]

    nothing = GLProbe(libegl=False, libegl_mesa=False, dri_driver=False)
    assert missing_packages(nothing) == ["libegl1", "libegl-mesa0", "libgl1-mesa-dri"]
    assert "install libegl1 libegl-mesa0 libgl1-mesa-dri" in advice(nothing, "egl")

    no_mesa_egl = GLProbe(libegl=True, libegl_mesa=False, dri_driver=True)
    assert advice(no_mesa_egl, "egl") == "missing libEGL_mesa.so.0: on Debian install libegl-mesa0"

    everything = GLProbe(libegl=True, libegl_mesa=True, dri_driver=True)
    assert "all installed" in advice(everything, "egl")
    assert "libgl1-mesa-dri" not in advice(everything, "egl")
    assert "libosmesa6" in advice(GLProbe(True, True, True, osmesa=False), "osmesa")
    assert "needs a display" in advice(everything, "glfw")


def test_gl_probe_honours_libgl_drivers_path(tmp_path: Path, monkeypatch) -> None:
    from engine.sim.gl import probe

    monkeypatch.setenv("LIBGL_DRIVERS_PATH", str(tmp_path))
    found = probe()
    assert found is not None and not found.dri_driver and found.dri_from_env
    (tmp_path / "swrast_dri.so").write_bytes(b"")
    assert probe().dri_driver


def test_sim_run_without_the_dri_driver_names_libgl1_mesa_dri(tmp_path: Path) -> None:
    """End to end: Mesa pointed at an empty driver directory (as on a machine without
    libgl1-mesa-dri); the error names that package, not the EGL ones that are there."""
    import ctypes

    for lib in ("libEGL.so.1", "libEGL_mesa.so.0"):
        try:
            ctypes.CDLL(lib)
        except OSError:
            pytest.skip(f"needs {lib} installed")
    empty = tmp_path / f"dri-{uuid.uuid4().hex[:6]}"
    empty.mkdir()
    env = dict(os.environ, MUJOCO_GL="egl", LIBGL_DRIVERS_PATH=str(empty))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "sim",
            "run",
            "examples/cube_lift.py",
            "--quality",
            "fast",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert one_line_error(done.stderr), done.stderr
    assert "libgl1-mesa-dri" in done.stderr and "swrast_dri.so" in done.stderr
    assert "libegl1" not in done.stderr and "libegl-mesa0" not in done.stderr
