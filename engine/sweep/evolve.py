"""Rounds of self-improvement: run trials -> mine -> gate -> build the library -> next round.

Each round runs every condition of the config; mined conditions use the library built from all
trials of the earlier rounds (fixed for the whole round). A round after the first that yields
no new candidate means the loop has saturated (the LLM stopped writing new functions once the
library got dense): that is reported and the rounds stop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from engine.skills.manager import SkillManager
from engine.store.db import open_db
from engine.store.sessions import DB_NAME
from engine.sweep.config import SweepConfig
from engine.sweep.session import execute_session, runner_lock


@dataclass
class RoundReport:
    round: int
    status: str
    trials: int
    successes: int
    candidates: int
    new_candidates: int
    promoted: int
    library_sizes: dict[str, int]
    saturated: bool = False

    def line(self) -> str:
        libs = ", ".join(f"{k} {v}" for k, v in self.library_sizes.items())
        text = (
            f"round {self.round}: {self.successes}/{self.trials} trials succeeded · "
            f"{self.candidates} candidates ({self.new_candidates} new) · {self.promoted} promoted · "
            f"libraries: {libs or 'none mined'}"
        )
        if self.saturated:
            text += " · SATURATED: no new candidate this round"
        return text


def _mine_after(config: SweepConfig, directory: Path, round_: int, known: set[str]) -> RoundReport:
    with runner_lock(directory):
        db = open_db(directory / DB_NAME)
        try:
            events: list[tuple[str, dict]] = []
            manager = SkillManager(
                config,
                db.conn,
                emit=lambda k, d: events.append((k, d)),
                sessions_root=directory.parent,
            )
            manager.round = round_
            manager.refresh()
            ids = {c.id for c in manager.candidates}
            new = len(ids - known)
            known |= ids
            row = db.conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(final_success), 0) FROM trials WHERE status = 'done' AND round = ?",
                (round_,),
            ).fetchone()
            promoted = db.conn.execute(
                "SELECT COUNT(*) FROM skills WHERE status = 'promoted'"
            ).fetchone()[0]
            sizes = {name: len(lib.skills) for name, lib in manager.libraries.items() if lib.skills}
            with db.conn:
                for kind, data in events:
                    db.conn.execute(
                        "INSERT INTO events (at, kind, data_json) VALUES (strftime('%s','now'), ?, ?)",
                        (kind, json.dumps(data)),
                    )
        finally:
            db.conn.close()
    return RoundReport(round_, "", row[0], row[1], len(ids), new, promoted, sizes)


def run_rounds(
    config: SweepConfig, directory: Path, rounds: int, *, quiet: bool = False
) -> list[RoundReport]:
    """Run up to ``rounds`` rounds in one session; stops early at saturation or a stop."""
    fixed = dataclasses.replace(config, skills=dataclasses.replace(config.skills, mine_every=0))
    reports: list[RoundReport] = []
    known: set[str] = set()
    for r in range(rounds):
        status = asyncio.run(execute_session(directory, fixed, quiet=quiet, round_=r))
        report = _mine_after(fixed, directory, r, known)
        report.status = status
        report.saturated = r > 0 and report.new_candidates == 0
        reports.append(report)
        if not quiet:
            print(report.line(), flush=True)
        if status != "finished" or report.saturated:
            break
    return reports
