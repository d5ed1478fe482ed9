"""Runs a trial's blocks, one after another, in the sandbox worker that owns its simulator.

Not to be confused with the sweep's executors (:mod:`engine.executors`), which decide where a
whole trial runs: a :class:`BlockRunner` is one trial's hands in its sandbox.
"""

from __future__ import annotations

from dataclasses import replace

from engine.events import SimStatus, Stdout
from engine.sandbox.result import ExecResult
from engine.sandbox.worker import SandboxWorker
from engine.trial import events as ev
from engine.trial.spec import LibrarySnapshot, TrialSpec
from engine.world import ENV_FACTORY

FRAME_FEEDBACK = ("vision", "vdm")
"""Feedback modes that need camera frames before and after each block (and of the start)."""


class BlockRunner:
    """One sandbox worker per trial; restarted (scene reset) if a block gets it killed."""

    def __init__(self, spec: TrialSpec) -> None:
        self.spec = spec
        self.worker = SandboxWorker(ENV_FACTORY, spec.world.to_kwargs())
        self.worker.frames = spec.feedback in FRAME_FEEDBACK
        self.sink: ev.EventSink = ev.discard

    async def start(
        self, library: LibrarySnapshot | None = None, sink: ev.EventSink = ev.discard
    ) -> dict:
        """Start the worker (seeding the library's skills into its namespace); the initial snapshot."""
        self.sink = sink
        if library is not None:
            if library.seeding == "isolated":
                self.worker.seed_parts = list(library.parts)
            else:
                self.worker.seed_code = library.source
        reply = await self.worker.start()
        return reply.get("summary", {})

    @property
    def initial_frame(self) -> bytes | None:
        """The scene as the camera saw it before any code ran (vision feedback modes only)."""
        return self.worker.initial_frame

    def _forward(self, block: int):
        def on_event(message: dict) -> None:
            if message["type"] == "stdout":
                stream = message.get("stream", "stdout")
                self.sink(Stdout(block=block, line=message["line"], stream=stream))
            elif message["type"] == "status":
                self.sink(SimStatus(block=block, status=dict(message["status"])))

        return on_event

    async def run(self, code: str, block: int, *, want_frames: bool = False) -> ExecResult:
        """Run one block; after a kill the worker is restarted and the result says so.

        Kills are the block's own doing (its wall-clock or CPU limit, a crash). A worker
        killed from outside the trial (the OOM killer, an operator) is not: that raises
        :class:`~engine.sandbox.worker.SandboxWorkerLost`, a ``WorkerLost``, with no result and
        no reset, and the sweep runs the trial again from its start."""
        result = await self.worker.run_block(
            code,
            name=f"<block {block}>",
            timeout_s=self.spec.block_timeout_s,
            frames=want_frames,
            on_event=self._forward(block),
        )
        if not result.exec_time_s:
            result = replace(result, exec_time_s=result.wall_time_s)
        if result.killed:
            reply = await self.worker.restart()
            result = replace(
                result,
                summary=reply.get("summary", {}),
                status=reply.get("status", {}),
                reset_note=(
                    f"The block was stopped ({result.killed}). The robot and scene were reset "
                    "to their initial state and all variables from earlier blocks were lost."
                ),
            )
        return result

    async def close(self) -> None:
        await self.worker.close()
