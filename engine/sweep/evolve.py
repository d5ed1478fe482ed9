"""Rounds of self-improvement: run trials -> mine -> gate -> build the library -> next round.

Each round runs every condition of the config; mined conditions use the library built from all
trials of the earlier rounds (fixed for the whole round). Saturation is measured as the study
measures it (:mod:`engine.skills.saturation`): the library arms' top-level ``def``s per block,
against the first round's. A saturated round is reported and the rounds stop; a round cut short
(stopped, halted, a signal) is never called saturated.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from engine.config import SweepConfig
from engine.skills.manager import SkillManager
from engine.skills.saturation import defs_per_block, saturated
from engine.store.sessions import DB_NAME
from engine.store.writer import SessionWriter
from engine.sweep.session import execute_session, runner_lock
from engine.text import plural_word


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
    defs_per_block: dict[tuple[str, str], float] = dataclasses.field(default_factory=dict)
    """(condition, backbone) of each library arm -> top-level defs per executed block."""
    saturated: bool = False

    def line(self) -> str:
        libs = ", ".join(f"{k} {v}" for k, v in self.library_sizes.items())
        text = (
            f"round {self.round}: {self.successes}/{self.trials} {plural_word(self.trials, 'trial')} succeeded · "
            f"{self.candidates} candidates ({self.new_candidates} new) · {self.promoted} promoted · "
            f"libraries: {libs or 'none mined'}"
        )
        if self.defs_per_block:
            rates = ", ".join(
                f"{c}/{b} {v:.2f}" for (c, b), v in sorted(self.defs_per_block.items())
            )
            text += f" · defs per block: {rates}"
        if self.saturated:
            text += " · SATURATED: the library arms stopped writing functions"
        return text


def _mine_after(config: SweepConfig, directory: Path, round_: int, known: set[str]) -> RoundReport:
    with runner_lock(directory):
        store = SessionWriter(directory / DB_NAME, create=False)
        try:
            manager = SkillManager(config, store, sessions_root=directory.parent)
            manager.round = round_
            manager.refresh()
            ids = {c.id for c in manager.candidates}
            new = len(ids - known)
            known |= ids
            trials, successes = store.reader.round_counts(round_)
            _, promoted = store.reader.skill_counts()
            sizes = {name: len(lib.skills) for name, lib in manager.libraries.items() if lib.skills}
            libraries = {c.name: c.library for c in config.conditions}
            rates = defs_per_block(store.reader, round_, libraries)
        finally:
            store.close()
    return RoundReport(round_, "", trials, successes, len(ids), new, promoted, sizes, rates)


def run_rounds(
    config: SweepConfig, directory: Path, rounds: int, *, quiet: bool = False
) -> list[RoundReport]:
    """Run up to ``rounds`` rounds in one session; stops early at saturation or a stop."""
    fixed = dataclasses.replace(config, skills=dataclasses.replace(config.skills, mine_every=0))
    reports: list[RoundReport] = []
    known: set[str] = set()
    ratio = config.skills.saturation_ratio
    for r in range(rounds):
        status = asyncio.run(execute_session(directory, fixed, quiet=quiet, round_=r))
        report = _mine_after(fixed, directory, r, known)
        report.status = status
        first = reports[0].defs_per_block if reports else {}
        report.saturated = (
            r > 0 and status == "finished" and saturated(report.defs_per_block, first, ratio)
        )
        reports.append(report)
        if not quiet:
            print(report.line(), flush=True)
        if status != "finished" or report.saturated:
            break
    return reports
