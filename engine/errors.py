"""Errors that cross package lines (a leaf module: it imports nothing of the engine).

Anything a user can cause (bad config, unknown session, missing asset package, dead API)
is raised as :class:`UserError`; the CLI prints it as one line and exits non-zero instead of
showing a traceback. :class:`WorkerLost` is infrastructure: a process the trial ran in died of
something outside the trial, so the run is abandoned and the trial run again.
"""


class UserError(Exception):
    """An error whose message is meant for the person at the terminal (one line, no traceback)."""

    exit_code = 2


class WorkerLost(Exception):
    """The process running a trial, or the trial's sandbox worker, died of something outside
    the trial (node lost, the OOM killer, kill -9): abandon the run and run the trial again.

    Raised by executors (engine.executors) and by the sandbox (engine.sandbox.worker), caught by
    the sweep runner; here so that neither has to import the other. Keep it constructible from
    one message (Ray pickles it across processes)."""
