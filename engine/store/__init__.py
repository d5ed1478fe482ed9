"""The session store: one SQLite database per session, the single source of truth.

The sweep runner is the only writer of results and events; any number of viewers read it and
append commands (pause, resume, stop, approve, veto) that the runner consumes.
"""
