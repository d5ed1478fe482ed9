"""Typed events a trial emits while it runs, for the store (viewers tail them) and the UI.

Small and append-only. LLM text deltas are coalesced (at most one event per ``DELTA_WINDOW_S``)
so a fast stream does not flood the store or a slow SSH link.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

TRIAL_STARTED = "trial_started"
LLM_DELTA = "llm_delta"
LLM_RETRY = "llm_retry"
CODE_READY = "code_ready"
EXEC_STARTED = "exec_started"
STDOUT = "stdout"
SIM_STATUS = "sim_status"
EXEC_RESULT = "exec_result"
DECISION = "decision"
TRIAL_FINISHED = "trial_finished"

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


@dataclass(frozen=True)
class TrialEvent:
    kind: str
    trial_id: str
    data: dict = field(default_factory=dict)
    at: float = field(default_factory=time.time)


EventSink = Callable[[TrialEvent], None]


def discard(_: TrialEvent) -> None:
    """An event sink that drops everything."""


class DeltaCoalescer:
    """Buffers LLM text deltas and emits them as one event per window (and on flush)."""

    def __init__(
        self, sink: EventSink, trial_id: str, block: int, window_s: float = DELTA_WINDOW_S
    ):
        self.sink, self.trial_id, self.block, self.window_s = sink, trial_id, block, window_s
        self._buffer: list[str] = []
        self._last = time.monotonic()

    def add(self, text: str) -> None:
        self._buffer.append(text)
        if time.monotonic() - self._last >= self.window_s:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self.sink(
                TrialEvent(
                    LLM_DELTA, self.trial_id, {"block": self.block, "text": "".join(self._buffer)}
                )
            )
            self._buffer.clear()
        self._last = time.monotonic()
