"""What a trial emits while it runs, as typed events (:mod:`engine.events`), and the coalescer
that keeps a fast LLM stream from flooding the store or a slow SSH link.

The kind names are re-exported here for the trial's consumers (``ev.STDOUT`` ...); each is the
``kind`` of its event class, spelled once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.events import (
    CodeReady,
    Decision,
    Event,
    ExecFinished,
    ExecStarted,
    LlmDelta,
    LlmRetry,
    SimStatus,
    Stdout,
    TrialFinished,
    TrialStarted,
)

TrialEvent = Event
"""The type of everything a trial emits (an :class:`engine.events.Event`)."""

TRIAL_STARTED = TrialStarted.kind
LLM_DELTA = LlmDelta.kind
LLM_RETRY = LlmRetry.kind
CODE_READY = CodeReady.kind
EXEC_STARTED = ExecStarted.kind
STDOUT = Stdout.kind
SIM_STATUS = SimStatus.kind
EXEC_RESULT = ExecFinished.kind
DECISION = Decision.kind
TRIAL_FINISHED = TrialFinished.kind

KINDS = (
    TRIAL_STARTED,
    LLM_DELTA,
    LLM_RETRY,
    CODE_READY,
    EXEC_STARTED,
    STDOUT,
    SIM_STATUS,
    EXEC_RESULT,
    DECISION,
    TRIAL_FINISHED,
)

DELTA_WINDOW_S = 0.05

EventSink = Callable[[Event], None]


def discard(_: Event) -> None:
    """An event sink that drops everything."""


class DeltaCoalescer:
    """Buffers LLM text deltas and emits them as one :class:`LlmDelta` per window (and on flush)."""

    def __init__(self, sink: EventSink, block: int, window_s: float = DELTA_WINDOW_S):
        self.sink, self.block, self.window_s = sink, block, window_s
        self._buffer: list[str] = []
        self._last = time.monotonic()

    def add(self, text: str) -> None:
        self._buffer.append(text)
        if time.monotonic() - self._last >= self.window_s:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self.sink(LlmDelta(block=self.block, text="".join(self._buffer)))
            self._buffer.clear()
        self._last = time.monotonic()
