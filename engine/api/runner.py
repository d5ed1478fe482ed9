"""Run one program against a fresh scene and report what happened (``autocapx sim run``)."""

from __future__ import annotations

import contextlib
import io
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.api.env import TrialEnv, build_env
from engine.sim.tasks import TABLE_TOP_Z


@dataclass
class ProgramResult:
    """Outcome of one program run: the fields ``autocapx sim run --json`` prints."""

    task: str
    seed: int
    success: bool
    reward: float
    cube_height: float
    steps: int
    sim_time_s: float
    wall_time_s: float
    error: str | None = None
    stdout: str = ""
    stderr: str = ""
    frames: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _error_line(exc: BaseException, filename: str) -> str:
    """``Type: message (line N)`` pointing at the program's own line where possible."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}: {exc}{where}"


def run_program(
    source: str,
    *,
    save_frames: Path | None = None,
    env: TrialEnv | None = None,
    library_source: str = "",
    **world: Any,
) -> ProgramResult:
    """Execute ``source`` in a fresh namespace over a fresh scene; exceptions become ``error``.

    The scene is ``env``'s, or a new one of ``world`` (:class:`~engine.world.WorldSpec` fields;
    ``seed`` alone is taken when ``env`` is given, for the report). ``library_source`` (e.g. the
    curated-9 helpers) is executed in a namespace of its own and its functions bound into the
    program's, as the sandbox worker seeds a library."""
    t0 = time.perf_counter()
    env = env or build_env(**world)
    task, seed = env.world.task, world.get("seed", env.seed)
    frames: dict[str, str] = {}
    if save_frames is not None:
        frames["before"] = _save_frame(env, save_frames / f"{task}_seed{seed}_before.png")
    filename = "<program>"
    out, err = io.StringIO(), io.StringIO()
    error = None
    namespace = dict(env.namespace)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if library_source:
                library = {"__name__": "<library>", **env.api.functions()}
                exec(compile(library_source, "<library>", "exec"), library)  # noqa: S102
                namespace.update({k: v for k, v in library.items() if callable(v)})
            code = compile(source, filename, "exec")
            namespace.update(env.block_globals())
            exec(code, namespace)  # noqa: S102 (in-process runs are for trusted programs)
    except (Exception, SystemExit) as exc:
        error = _error_line(exc, filename)
    if save_frames is not None:
        frames["after"] = _save_frame(env, save_frames / f"{task}_seed{seed}_after.png")
    outcome = env.sim.evaluate()
    primary = env.sim.task.primary
    steps = env.sim.counters.control_steps
    return ProgramResult(
        task=task,
        seed=seed,
        success=outcome.success,
        reward=round(outcome.reward, 4),
        cube_height=round(float(env.sim.object_pos(primary)[2] - TABLE_TOP_Z), 4),
        steps=steps,
        sim_time_s=round(steps / 20.0, 3),
        wall_time_s=round(time.perf_counter() - t0, 3),
        error=error,
        stdout=out.getvalue(),
        stderr=err.getvalue(),
        frames=frames,
    )


def _save_frame(env: TrialEnv, path: Path) -> str:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(env.sim.render().rgb).save(path)
    return str(path)
