"""Runs a trial's blocks in a sandbox worker that owns the trial's simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.sandbox.worker import SandboxWorker
from engine.trial import events as ev

if TYPE_CHECKING:
    from engine.trial.loop import LibrarySnapshot, TrialSpec

ENV_FACTORY = "engine.api.env:build_env"
FRAME_FEEDBACK = ("vision", "vdm")
"""Feedback modes that need camera frames before and after each block (and of the start)."""


@dataclass
class BlockOutcome:
    ok: bool
    stdout: str = ""
    stderr: str = ""
    exception: str | None = None
    violation: str | None = None
    killed: str | None = None
    exec_time_s: float = 0.0
    status: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    frames: tuple[bytes, bytes] | None = None
    reset_note: str = ""
    skill_calls: dict[str, list[int]] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)


class SandboxExecutor:
    """One sandbox worker per trial; restarted (scene reset) if a block gets it killed."""

    def __init__(self, spec: TrialSpec) -> None:
        self.spec = spec
        self.worker = SandboxWorker(
            ENV_FACTORY,
            {
                "task": spec.task,
                "seed": spec.seed,
                "camera_size": spec.camera_size,
                "quality": spec.quality,
                "noise": spec.noise,
                "privileged_observations": spec.privileged_observations,
            },
        )
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
        trial_id = self.spec.trial_id

        def on_event(message: dict) -> None:
            if message["type"] == "stdout":
                data = {
                    "block": block,
                    "line": message["line"],
                    "stream": message.get("stream", "stdout"),
                }
                self.sink(ev.TrialEvent(ev.STDOUT, trial_id, data))
            elif message["type"] == "status":
                self.sink(
                    ev.TrialEvent(ev.SIM_STATUS, trial_id, {"block": block, **message["status"]})
                )

        return on_event

    async def run(self, code: str, block: int, *, want_frames: bool = False) -> BlockOutcome:
        result = await self.worker.run_block(
            code,
            name=f"<block {block}>",
            timeout_s=self.spec.block_timeout_s,
            frames=want_frames,
            on_event=self._forward(block),
        )
        outcome = BlockOutcome(
            ok=result.ok,
            stdout=result.stdout,
            stderr=result.stderr,
            exception=result.exception,
            violation=result.violation,
            killed=result.killed,
            exec_time_s=result.exec_time_s or result.wall_time_s,
            status=result.status,
            summary=result.summary,
            skill_calls=result.skill_calls,
            api_calls=result.api_calls,
        )
        if "before" in result.frames and "after" in result.frames:
            outcome.frames = (result.frames["before"], result.frames["after"])
        if result.killed:
            reply = await self.worker.restart()
            outcome.summary = reply.get("summary", {})
            outcome.status = reply.get("status", {})
            outcome.reset_note = (
                f"The block was stopped ({result.killed}). The robot and scene were reset to "
                "their initial state and all variables from earlier blocks were lost."
            )
        return outcome

    async def close(self) -> None:
        await self.worker.close()
