"""User-facing errors.

Anything a user can cause (bad config, unknown session, missing asset package, dead API)
is raised as :class:`UserError`; the CLI prints it as one line and exits non-zero instead of
showing a traceback.
"""


class UserError(Exception):
    """An error whose message is meant for the person at the terminal (one line, no traceback)."""

    exit_code = 2
