"""Is anyone running this session? The runner's heartbeat, read by viewers.

The runner writes ``session.heartbeat_at`` every second while it lives (paused or not). A
viewer tells from it, and from the runner's pid when the runner is on this host, whether the
runner is alive, stalled (its process lives but it has not beaten for a while: blocked on a
database lock, or wedged), or gone (its process is dead, or nothing has been heard from
another host for a long time). A session whose status is final needs no runner: ended.
Reading the state writes nothing and takes no lock.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

HEARTBEAT_S = 1.0
"""How often the runner beats."""
ALIVE_S = 3.0
"""A heartbeat younger than this: the runner is alive."""
GONE_S = 15.0
"""No heartbeat for this long from a runner on another host: taken as gone."""
STARTING_S = 120.0
"""A new session's runner may take this long to import and start before it first beats."""
FINAL_STATUSES = ("finished", "stopped")


@dataclass(frozen=True)
class RunnerState:
    """What a viewer can say about the session's runner."""

    state: str
    """``alive``, ``stalled``, ``gone``, ``starting`` or ``ended``."""
    pid: int | None = None
    host: str = ""
    heartbeat_age_s: float | None = None

    @property
    def can_take_commands(self) -> bool:
        return self.state in ("alive", "stalled", "starting")

    def words(self) -> str:
        """One line for a status bar."""
        where = f"pid {self.pid}" + (f" on {self.host}" if self.host else "")
        age = (
            ""
            if self.heartbeat_age_s is None
            else f", last heartbeat {self.heartbeat_age_s:.0f} s ago"
        )
        return {
            "alive": "runner alive",
            "stalled": f"runner STALLED ({where}{age})",
            "gone": f"runner GONE ({where}{age})",
            "starting": "runner starting",
            "ended": "no runner (the sweep has ended)",
        }[self.state]


def pid_running(pid: int) -> bool:
    """True if a process with this pid exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True  # no /proc (not Linux): existence is all we can tell


def classify(
    *,
    status: str,
    pid: int | None,
    host: str,
    heartbeat_at: float | None,
    created_at: float,
    now: float,
    this_host: str,
    is_running: Callable[[int], bool] = pid_running,
) -> RunnerState:
    """The runner's state from the session row (pure apart from ``is_running``)."""
    if status in FINAL_STATUSES:
        return RunnerState("ended", pid, host, None)
    age = None if heartbeat_at is None else max(0.0, now - heartbeat_at)
    local = bool(pid) and host == this_host
    process_lives = is_running(pid) if local and pid else None
    if age is None:  # never beat: a runner starting (for a while), or none at all
        if process_lives is False and (status != "created" or now - created_at > STARTING_S):
            return RunnerState("gone", pid, host, None)
        if now - created_at > STARTING_S and process_lives is None:
            return RunnerState("gone", pid, host, None)
        return RunnerState("starting", pid, host, None)
    if process_lives is False:
        return RunnerState("gone", pid, host, age)
    if age <= ALIVE_S:
        return RunnerState("alive", pid, host, age)
    if process_lives or age <= GONE_S:
        return RunnerState("stalled", pid, host, age)
    return RunnerState("gone", pid, host, age)


def runner_state(session: dict, now: float) -> RunnerState:
    """:func:`classify` for a row of the session table, on this host."""
    return classify(
        status=session["status"],
        pid=session.get("pid"),
        host=session.get("host") or "",
        heartbeat_at=session.get("heartbeat_at"),
        created_at=session.get("created_at") or now,
        now=now,
        this_host=socket.gethostname(),
    )
