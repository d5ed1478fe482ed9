"""What the console knows about a session's trials, built from the store's events.

A pure model: the session screen's event worker reads batches of events by sequence number
(a viewer that re-attaches starts from the beginning and catches up) and hands them to
:meth:`SessionFeed.apply` on the UI thread. Only what the panes show is kept, with bounded
buffers, so memory stays flat however long the sweep runs. Table queries live in
:mod:`autocapx_tui.queries`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.events import (
    LIBRARY_KINDS,
    CodeReady,
    CommandHandled,
    Decision,
    ExecFinished,
    ExecStarted,
    LlmDelta,
    SessionState,
    SimStatus,
    Stdout,
    SweepHalted,
    TrialFinished,
    TrialPlaced,
    TrialStarted,
    WorkerLostEvent,
)
from engine.store.reader import StoredEvent

MAX_STDOUT_LINES = 400
MAX_CODE_CHARS = 60_000
MAX_TRIALS_TRACKED = 64


@dataclass
class BlockView:
    index: int
    decision: str = ""
    code: str = ""
    result: str = ""
    success: bool | None = None
    reward: float | None = None
    exception: str = ""


@dataclass
class TrialView:
    key: str
    run_id: int | None = None
    condition: str = ""
    backbone: str = ""
    seed: int = 0
    model: str = ""
    synthetic: bool = False
    privileged: bool = False
    """The LLM of this trial saw simulator ground truth (labelled PRIVILEGED)."""
    stream: str = ""
    """Text streamed for the current block (LLM reply being written)."""
    stdout: deque = field(default_factory=lambda: deque(maxlen=MAX_STDOUT_LINES))
    stdout_total: int = 0
    """Lines ever appended (the deque keeps the last few), so views can append just the new."""
    status: dict = field(default_factory=dict)
    blocks: dict[int, BlockView] = field(default_factory=dict)
    finished: dict | None = None
    where: str = ""
    """Where the trial runs when that is not this machine's engine (a Ray worker)."""
    lost: str = ""
    """Why the worker of the trial's previous run died, until the re-run starts."""

    def add_line(self, line: str) -> None:
        self.stdout.append(line)
        self.stdout_total += 1

    def block(self, index: int) -> BlockView:
        return self.blocks.setdefault(index, BlockView(index))

    def code_that_ran(self) -> tuple[int, str] | None:
        """The last block with a program (a FINISH turn carries none), and its code."""
        for index in sorted(self.blocks, reverse=True):
            if self.blocks[index].code.strip():
                return index, self.blocks[index].code
        return None

    @property
    def error(self) -> str:
        """Why the trial went wrong, if it did: its infrastructure error, else the last
        block's exception or violation."""
        if self.finished and self.finished.get("error"):
            return str(self.finished["error"])
        for index in sorted(self.blocks, reverse=True):
            if self.blocks[index].exception:
                return f"block {index}: {self.blocks[index].exception}"
        return ""


class SessionFeed:
    """The trials of one session as its events tell them (the latest few, bounded)."""

    def __init__(self) -> None:
        self.last_seq = 0
        self.trials: dict[str, TrialView] = {}
        self.order: deque[str] = deque(maxlen=MAX_TRIALS_TRACKED)
        self.latest: str | None = None
        self.skill_events = 0
        self.status = ""
        """The session's status as its last ``session_state`` event gave it."""
        self.halted = ""
        """Why the runner halted the sweep (too many infrastructure failures in a row)."""
        self.handled: dict[int, str] = {}
        """Results of commands the runner has handled, by command id (the recent ones)."""

    def apply(self, events: Sequence[StoredEvent]) -> int:
        """Apply a batch of events (in sequence order); returns how many were new."""
        fresh = [e for e in events if e.seq > self.last_seq]
        for event in fresh:
            self._apply(event)
        if fresh:
            self.last_seq = fresh[-1].seq
        return len(fresh)

    def _trial(self, key: str) -> TrialView:
        view = self.trials.get(key)
        if view is None:
            view = self.trials[key] = TrialView(key)
            self.order.append(key)  # a bounded deque: the oldest key falls out
            if len(self.trials) > MAX_TRIALS_TRACKED:
                for old in [k for k in self.trials if k not in self.order]:
                    del self.trials[old]
        return view

    def _apply(self, stored: StoredEvent) -> None:
        e = stored.event
        if e.kind in LIBRARY_KINDS:
            self.skill_events += 1
            return
        if isinstance(e, SessionState):
            self.status = e.status
            if e.status == "running":
                self.halted = ""
            return
        if isinstance(e, SweepHalted):
            self.halted = e.reason
            return
        if isinstance(e, CommandHandled):
            self.handled[e.id] = e.result
            if len(self.handled) > 256:
                del self.handled[min(self.handled)]
            return
        if not stored.trial_key:
            return
        t = self._trial(stored.trial_key)
        match e:
            case TrialStarted():
                t.condition, t.backbone, t.seed = e.condition, e.backbone, e.seed
                t.model, t.synthetic, t.privileged = e.model, e.synthetic, e.privileged
                t.run_id = stored.run_id
                t.stream, t.finished = "", None
                t.blocks.clear()
                t.stdout.clear()
                t.stdout_total = 0
                if t.lost:  # the run before this one died with its worker
                    t.add_line(f"── worker lost: {t.lost}; the trial runs again")
                    t.lost = ""
                if t.where:
                    t.add_line(f"── running on {t.where}")
                self.latest = stored.trial_key
            case TrialPlaced():
                t.where = f"{e.host or '?'} (pid {e.pid or '?'}, node {e.node[:8]})"
            case WorkerLostEvent():
                t.lost = e.reason or "?"
                t.add_line(f"── worker lost: {t.lost}")
            case LlmDelta():
                t.stream = "" if e.restart else (t.stream + e.text)[-MAX_CODE_CHARS:]
            case Decision():
                t.block(e.block).decision = e.decision
            case CodeReady():
                t.block(e.block).code = e.code[-MAX_CODE_CHARS:]
            case ExecStarted():
                t.add_line(f"── block {e.block} runs")
            case Stdout():
                t.add_line(e.line)
            case SimStatus():
                t.status = e.data
            case ExecFinished():
                b = t.block(e.block)
                b.result = e.violation or e.killed or e.exception or "ran clean"
                b.success, b.reward = e.success, e.reward
                b.exception = e.violation or e.killed or e.exception or ""
                t.status = e.status or t.status
                t.stream = ""
            case TrialFinished():
                t.finished = e.summary
                t.model = e.summary.get("served_model") or t.model
