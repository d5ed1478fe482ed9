"""What a sweep says when it ends: each arm's rate with its interval, where the session is,
and the commands to look at it (headless runs and the console print the same lines)."""

from __future__ import annotations

from pathlib import Path

from engine.invocation import session_argument, typed_path
from engine.stats.summary import live_summary
from engine.store.reader import SessionReader


def ending_lines(
    reader: SessionReader, directory: Path, status: str, prefix: str, default_root: Path
) -> list[str]:
    """The closing lines of a sweep of session ``directory`` (paths as typed from here;
    ``--sessions-dir`` added when the session is not under ``default_root``)."""
    rows = live_summary(reader, by_backbone=True)
    several_rounds = len({r.round for r in rows}) > 1
    lines = ["success on the final attempt (Wilson 95% interval):"] if rows else []
    width = max((len(r.condition) + len(r.backbone) for r in rows), default=0) + 3
    for r in rows:
        arm = f"{r.condition} · {r.backbone}"
        if several_rounds:
            arm += f" · round {r.round}"
            width = max(width, len(arm))
        lines.append(
            f"  {arm:{width}}  {r.k}/{r.n} = {100 * r.rate:3.0f}%  "
            f"({100 * r.low:.0f}–{100 * r.high:.0f}%)"
        )
    where = typed_path(directory)
    session = session_argument(directory, default_root)
    lines.append(f"session: {where}")
    lines.append("next:")
    if status not in ("finished",):
        lines.append(f"  {prefix} resume {session}     # run the trials left")
    lines.append(f"  {prefix} report {session}     # tables, plots, tests against the reference")
    lines.append(f"  {prefix} attach {session}     # the console on this session")
    return lines
