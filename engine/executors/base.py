"""What an executor is: where a whole trial runs, and what it hands back (no outgoing imports).

The sweep runner decides *which* trial runs *when* (concurrency, per-backbone limits, pause,
stop, the skill library's version) and alone writes the session database. An executor only
runs one trial to its end, building the trial's LLM backend where the trial runs, and hands
back what happened: events and blocks as they occur, then the trial's record. If the process
running a trial dies, the executor raises :class:`WorkerLost` and the runner abandons that run
and runs the trial again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

BlockSink = Callable[[Any], None]
"""Receives each :class:`~engine.trial.records.BlockRecord` as it ends."""
PlacementSink = Callable[[dict], None]
"""Receives where a trial was placed (node, host, pid, version)."""
EventSink = Callable[[Any], None]
"""Receives each :class:`~engine.events.Event` of the trial."""


class WorkerLost(Exception):
    """The process running a trial died (node lost, OOM kill, kill -9): run the trial again."""


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
