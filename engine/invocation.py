"""How the user ran autocapx, so that printed next steps can be pasted as they are.

A demo run from a fresh clone uses ``.venv/bin/autocapx`` without activating the virtualenv;
telling that user to run ``autocapx report …`` gives "command not found". Commands are
printed with the prefix that works from where the user is: ``autocapx`` when that name on the
PATH is this very program, else the path that was run (relative to the working directory when
that is shorter), else ``python -m engine`` with this interpreter.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def _short(path: Path, cwd: Path) -> str:
    try:
        rel = os.path.relpath(path, cwd)
    except ValueError:  # another drive
        return str(path)
    if rel.startswith(os.pardir + os.sep + os.pardir):
        return str(path)
    return rel if os.sep in rel else f".{os.sep}{rel}"


def command_prefix(
    argv0: str | None = None,
    *,
    cwd: Path | None = None,
    which: str | None = None,
    executable: str | None = None,
) -> str:
    """The words that start an autocapx command the user can paste (e.g. ``autocapx``,
    ``.venv/bin/autocapx``, ``.venv/bin/python -m engine``)."""
    argv0 = argv0 if argv0 is not None else sys.argv[0]
    cwd = cwd or Path.cwd()
    on_path = which if which is not None else shutil.which("autocapx")
    script = Path(argv0)
    if script.name == "autocapx":
        if on_path and Path(on_path).resolve() == script.resolve():
            return "autocapx"
        return _short(script.absolute(), cwd)
    if on_path:
        return "autocapx"
    python = Path(executable or sys.executable)
    return f"{_short(python, cwd)} -m engine"


def typed_path(path: Path) -> str:
    """``path`` as typed from the working directory (absolute when that is shorter)."""
    rel = os.path.relpath(path, Path.cwd())
    return str(path) if rel.startswith(os.pardir + os.sep + os.pardir) else rel


def session_argument(directory: Path, default_root: Path) -> str:
    """How to name session ``directory`` on a command line typed here: its id, with
    ``--sessions-dir`` when it is not under the sessions root the command would look in."""
    if directory.parent.resolve() == default_root.resolve():
        return directory.name
    return f"{directory.name} --sessions-dir {typed_path(directory.parent)}"
