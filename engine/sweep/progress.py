"""Headless progress: a bar on a terminal, one line per trial otherwise (nohup, CI, logs)."""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from engine.sweep.plan import TrialPlan
from engine.text import plural, plural_word
from engine.trial.records import TrialRecord


class HeadlessProgress:
    def __init__(
        self, total: int, done: int = 0, stream: TextIO | None = None, quiet: bool = False
    ):
        self.total, self.done = total, done
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self.successes = 0
        self.running = 0
        self.t0 = time.monotonic()
        self.started_done = done
        self._waiting = False
        self._said_wait = 0.0

    def __call__(self, plan: TrialPlan, record: TrialRecord | None, what: str) -> None:
        if what == "started":
            self.running += 1
        elif what in ("done", "abandoned", "error", "lost"):
            self.running -= 1
        if what == "lost":
            self._say(
                f"{plan.key}: the worker running it died; its run is abandoned and the trial "
                "runs again"
            )
        if what == "error" and record is not None:
            self._say(f"{plan.key}: ERROR {record.error} (not counted; runs again on resume)")
        if what == "done" and record is not None:
            self.done += 1
            self.successes += record.final_success
            if not self.tty and not self.quiet:
                verdict = "SUCCESS" if record.final_success else "failed"
                print(
                    f"[{self.done}/{self.total}] {plan.key} seed {plan.seed}: {verdict} "
                    f"({plural(record.n_blocks, 'block')}, {record.end_reason}, "
                    f"{record.wall_time_s:.1f} s)",
                    file=self.stream,
                    flush=True,
                )
        if self.tty and not self.quiet:
            self._bar()

    def store_wait(self, waited: float | None) -> None:
        """The writer is waiting for another process's lock (``None``: it has it again).

        Said even when quiet (on stderr then): a sweep that seems to hang should say why."""
        if waited is None:
            if self._waiting:
                self._waiting = False
                self._say_always("the database is free again; the sweep goes on")
            return
        if not self._waiting or waited - self._said_wait >= 10:
            self._waiting, self._said_wait = True, waited
            self._say_always(
                f"waiting for the database: another process holds its lock ({waited:.0f} s so "
                "far; nothing is lost, the sweep goes on when it is free)"
            )

    def _say_always(self, line: str) -> None:
        stream = sys.stderr if self.quiet else self.stream
        if self.tty and not self.quiet:
            stream.write("\n")
        print(line, file=stream, flush=True)

    def _say(self, line: str) -> None:
        """A line of its own, below the bar on a terminal."""
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\n")
        print(line, file=self.stream, flush=True)

    def _eta(self) -> str:
        finished = self.done - self.started_done
        if finished <= 0:
            return "--"
        left = (time.monotonic() - self.t0) / finished * (self.total - self.done)
        return f"{int(left // 60)}m{int(left % 60):02d}s"

    def _bar(self) -> None:
        width = shutil.get_terminal_size((80, 20)).columns
        text = f" {self.done}/{self.total} done · {self.successes} succeeded · {self.running} running · ETA {self._eta()}"
        room = max(10, width - len(text) - 3)
        filled = int(room * self.done / max(1, self.total))
        bar = "#" * filled + "-" * (room - filled)
        self.stream.write(f"\r[{bar}]{text}"[:width])
        self.stream.flush()

    def close(self, status: str, reason: str = "") -> None:
        if self.tty and not self.quiet:
            self.stream.write("\n")
        if reason:
            print(f"sweep halted: {reason}", file=self.stream, flush=True)
        if not self.quiet:
            print(
                f"sweep {status}: {self.done}/{self.total} {plural_word(self.total, 'trial')} "
                f"done, {self.successes} succeeded in this run",
                file=self.stream,
                flush=True,
            )
