"""Run one program file through the sandbox against a fresh scene (``autocapx sim run``)."""

from __future__ import annotations

import time
from pathlib import Path

from engine.api.runner import ProgramResult
from engine.errors import WorkerLost
from engine.sandbox.worker import OnEvent, SandboxError, SandboxWorker
from engine.sim.tasks import get_task
from engine.world import ENV_FACTORY, WorldSpec


async def run_program_sandboxed(
    source: str,
    world: WorldSpec,
    *,
    save_frames: Path | None = None,
    timeout_s: float = 180.0,
    library_source: str = "",
    on_event: OnEvent | None = None,
) -> ProgramResult:
    """Same result as :func:`engine.api.runner.run_program`, but the program runs sandboxed
    (with ``library_source`` seeded into its namespace as a trial's library is).

    ``on_event`` hears how it goes, as :meth:`SandboxWorker.run_block`'s listener does (the
    program's ``{"type": "stdout", ...}`` lines and ``{"type": "status", "status": {...}}``
    dicts), and two statuses of its own around the worker's start, which takes a second or two
    (one program, one worker: it is spawned, as a fork server would only add its own start):
    ``{"phase": "building the scene"}`` before it and the scene's initial status after it."""
    get_task(world.task)  # unknown task: a clear error before a worker starts
    task, seed = world.task, world.seed
    t0 = time.perf_counter()
    worker = SandboxWorker(ENV_FACTORY, world.to_kwargs(), seed_code=library_source)
    worker.use_fork_server = False  # one worker: a fork server would cost its own start on top

    def tell(status: dict) -> None:
        if on_event is not None:
            on_event({"type": "status", "status": status})

    try:
        tell({"phase": "building the scene"})
        ready = await worker.start()
        tell(dict(ready.get("status") or {}))
        result = await worker.run_block(
            source,
            name="<program>",
            timeout_s=timeout_s,
            frames=save_frames is not None,
            on_event=on_event,
        )
    except (SandboxError, WorkerLost) as exc:  # a worker killed from outside, too
        from engine.errors import UserError

        raise UserError(f"sandbox: {exc}") from None
    finally:
        await worker.close()
    frames: dict[str, str] = {}
    if save_frames is not None:
        save_frames.mkdir(parents=True, exist_ok=True)
        for name, png in result.frames.items():
            path = save_frames / f"{task}_seed{seed}_{name}.png"
            path.write_bytes(png)
            frames[name] = str(path)
    summary, status = result.summary, result.status
    error = result.violation and f"PolicyViolation: {result.violation}"
    error = error or result.killed or result.exception
    steps = int(status.get("step", 0))
    return ProgramResult(
        task=task,
        seed=seed,
        success=bool(summary.get("success")),
        reward=round(float(summary.get("reward", 0.0)), 4),
        cube_height=round(float(status.get("cube_height", 0.0)), 4),
        steps=steps,
        sim_time_s=round(steps / 20.0, 3),
        wall_time_s=round(time.perf_counter() - t0, 3),
        error=error,
        stdout=result.stdout,
        stderr=result.stderr,
        frames=frames,
    )
