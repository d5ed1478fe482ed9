"""Starting the engine from the console, the way a user would: ``autocapx … --detach``.

The runner it starts outlives the console (its own process group, its log beside the
session); the console keeps only the session id the engine prints, or the engine's own
one-line error when it cannot start (a broken config, a session already being run).
"""

from __future__ import annotations

import subprocess
import sys

from engine.errors import UserError


def start_detached(*args: str) -> str:
    """Run ``python -m engine ARGS --detach``; returns the session id it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "engine", *args, "--detach"], capture_output=True, text=True
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["could not start"]
        raise UserError(lines[-1].removeprefix("autocapx: error: "))
    return done.stdout.strip().splitlines()[-1]
