"""What an executor is: where a whole trial runs, and what it hands back.

It imports nothing of the engine but :class:`~engine.errors.WorkerLost`, re-exported here
(it lives in the leaf module :mod:`engine.errors` so that the sandbox can raise it too).

The sweep runner decides *which* trial runs *when* (concurrency, per-backbone limits, pause,
stop, the skill library's version) and alone writes the session database. An executor only
runs one trial to its end, building the trial's LLM backend where the trial runs, and hands
back what happened: events and blocks as they occur, then the trial's record. If the process
running a trial dies, or the trial's sandbox worker is killed from outside (the OOM killer, an
operator), :class:`WorkerLost` reaches the runner, which abandons that run and runs the trial
again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from engine.errors import WorkerLost

__all__ = [
    "BlockSink",
    "EventSink",
    "PlacementSink",
    "TrialExecutor",
    "WorkerLost",
]

BlockSink = Callable[[Any], None]
"""Receives each :class:`~engine.trial.records.BlockRecord` as it ends."""
PlacementSink = Callable[[dict], None]
"""Receives where a trial was placed (node, host, pid, version)."""
EventSink = Callable[[Any], None]
"""Receives each :class:`~engine.events.Event` of the trial."""


class TrialExecutor(Protocol):
    name: str

    async def start(self) -> dict:
        """Get ready (connect to a cluster...); returns the fields of an ``executor`` event."""
        ...

    async def run(
        self,
        spec: Any,
        backbone: Any,
        *,
        sink: EventSink,
        on_block: BlockSink,
        on_placed: PlacementSink,
    ) -> Any:
        """Run one trial (a TrialSpec, for a BackboneConfig) to its end and return its
        TrialRecord; raises WorkerLost if the process running it died."""
        ...

    async def close(self) -> None: ...
