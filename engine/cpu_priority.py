"""A sweep is batch work: its runner and trial workers run at a lower CPU priority, so the
console that watches it, an editor or a shell on the same machine does not wait behind it.

On Linux with autogroup scheduling (the default of most desktop and server kernels), every
session (``setsid``) is its own scheduling group, and a process's nice value only ranks it
within its group: a trial worker in its own session at nice 10 still takes as much CPU as the
console in its tmux session at nice 0. So a process that leads its own session also lowers
its group's priority (``/proc/self/autogroup``). A process in someone else's session (a
runner started in the foreground of a user's terminal) leaves the group alone: it is the
user's shell's too.
"""

from __future__ import annotations

import contextlib
import os

RUNNER_NICE = 10
"""How far a runner (and the trial workers it starts, which inherit it) lowers its priority.
On an otherwise idle machine this changes nothing."""

AUTOGROUP = "/proc/self/autogroup"


def yield_cpu_to_interactive_work(nice: int = RUNNER_NICE) -> None:
    """Lower this process to ``nice`` (never raise it), and its session's group with it."""
    with contextlib.suppress(OSError, AttributeError):  # not permitted, or not POSIX
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < nice:
            os.nice(nice - current)
    lower_session_group()


def lower_session_group() -> bool:
    """Give this process's autogroup the process's own nice value, if the process leads its
    session (a detached runner, a trial worker after ``setsid``). Best effort: False where
    there is no autogroup or it may not be changed."""
    try:
        if os.getsid(0) != os.getpid():
            return False
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        group = autogroup_nice()
        if group is None or nice <= group:
            return False
        with open(AUTOGROUP, "w") as group:
            group.write(str(nice))
        return True
    except (OSError, AttributeError, ValueError):
        return False


def autogroup_nice(path: str = AUTOGROUP) -> int | None:
    """This process's autogroup nice value (``/autogroup-15 nice 10`` -> 10), or None for a
    process in the kernel's root group (the file reads empty: a process whose session was
    never given a group of its own, as under some CI runners and container inits)."""
    with open(path) as group:
        fields = group.read().split()
    return int(fields[-1]) if fields else None
