"""``autocapx sim``: run a program against a fresh scene."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

from engine.errors import UserError
from engine.world import CAMERA_SIZE, MAX_CAMERA_SIZE, MIN_CAMERA_SIZE, WorldSpec

SEED_MIN, SEED_MAX = 0, 2**31 - 1
"""The scene seeds ``sim run`` and ``trial`` accept: those a sweep's ``session.seed`` may be
(engine/config.py). The scene's random generator refuses negative ones."""


def check_seed(seed: int) -> None:
    """A seed out of range ends the command in one line, before any worker starts."""
    if not SEED_MIN <= seed <= SEED_MAX:
        raise UserError(f"--seed must be between {SEED_MIN} and {SEED_MAX}, got {seed}")


def register(sub: argparse._SubParsersAction) -> None:
    sim = sub.add_parser("sim", help="run programs against the simulator")
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)
    run = sim_sub.add_parser(
        "run",
        help="run a program in a fresh scene and report the outcome",
        description="Run PROGRAM (Python written against the robot API) in a fresh scene, "
        "inside the same sandbox trials use. Exit status 0 if the task succeeded, 1 if not.",
    )
    run.add_argument("program", type=Path, help="Python file written against the robot API")
    run.add_argument("--task", default="cube_lift", help="task name (default: cube_lift)")
    run.add_argument("--seed", type=int, default=0, help="scene seed (default: 0)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--save-frames", type=Path, metavar="DIR", help="write before/after PNGs")
    run.add_argument(
        "--quality",
        choices=("full", "fast"),
        default="full",
        help="render quality: full visual meshes, or collision geometry only (fast)",
    )
    run.add_argument(
        "--camera-size",
        type=int,
        default=CAMERA_SIZE,
        help=f"camera image size in pixels (default: {CAMERA_SIZE}, as CaP-X)",
    )
    run.add_argument("--timeout", type=float, default=180.0, help="wall-clock limit in seconds")
    run.add_argument(
        "--library",
        default="none",
        help="helper library bound into the program's namespace: none or curated9",
    )
    run.add_argument(
        "--privileged-observations",
        action="store_true",
        help="add the simulator's object poses to observations (PRIVILEGED ground truth)",
    )
    run.set_defaults(handler=_run)


class Progress:
    """One updating line on a terminal while a program runs: the sandbox's phase, the control
    step, the gripper and the cube's height, and the seconds so far (``sim run`` on a terminal
    only: never with ``--json``, never into a pipe or a file). :meth:`clear` wipes it."""

    TICK_S = 0.5
    """How often the line is drawn again when nothing new arrives (the seconds keep counting
    while the program computes between moves)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.text = ""
        self.shown = False
        self.t0 = time.monotonic()

    def on_event(self, message: dict) -> None:
        """The sandbox's listener: statuses update the line (stdout lines print at the end)."""
        status = message.get("status")
        if message.get("type") == "status" and isinstance(status, dict):
            self.text = describe_status(status)
            self.draw()

    def draw(self) -> None:
        if not self.text:
            return
        width = max(20, shutil.get_terminal_size((80, 20)).columns - 1)
        line = f"  {self.text} · {time.monotonic() - self.t0:.0f} s"
        self.stream.write("\r\x1b[K" + line[:width])  # never wider than the terminal: no wrap
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    async def ticking(self, work):
        """Await ``work``, drawing the line again every :attr:`TICK_S` until it is done."""
        import asyncio

        async def tick() -> None:
            while True:
                await asyncio.sleep(self.TICK_S)
                self.draw()

        ticker = asyncio.create_task(tick())
        try:
            return await work
        finally:
            ticker.cancel()


def describe_status(status: dict) -> str:
    """``moving · step 140 · gripper open · cube 2.1 cm`` from a sandbox status dict."""
    phase = str(status.get("phase") or "running")
    if phase == "idle":  # between moves: the program is computing (perception, planning)
        phase = "running the program"
    parts = [phase]
    if isinstance(status.get("step"), int):
        parts.append(f"step {status['step']}")
    if status.get("gripper"):
        parts.append(f"gripper {status['gripper']}")
    if isinstance(status.get("cube_height"), int | float):
        parts.append(f"cube {100 * status['cube_height']:.1f} cm")
    return " · ".join(parts) if len(parts) > 1 else f"{phase}…"


def _run(args: argparse.Namespace) -> int:
    try:
        source = args.program.read_text()
    except OSError as exc:
        raise UserError(f"cannot read program {args.program}: {exc.strerror}") from None
    check_seed(args.seed)
    if not MIN_CAMERA_SIZE <= args.camera_size <= MAX_CAMERA_SIZE:
        raise UserError(
            f"--camera-size must be between {MIN_CAMERA_SIZE} and {MAX_CAMERA_SIZE}, "
            f"got {args.camera_size}"
        )
    import asyncio

    from engine.sandbox.program import run_program_sandboxed
    from engine.skills.library import builtin_library

    library = builtin_library(args.library)
    progress = Progress(sys.stdout) if sys.stdout.isatty() and not args.json else None
    work = run_program_sandboxed(
        source,
        WorldSpec(
            task=args.task,
            seed=args.seed,
            camera_size=args.camera_size,
            quality=args.quality,
            privileged_observations=args.privileged_observations,
        ),
        save_frames=args.save_frames,
        timeout_s=args.timeout,
        library_source=library.source,
        on_event=progress.on_event if progress else None,
    )
    try:
        result = asyncio.run(progress.ticking(work) if progress else work)
    finally:
        if progress:
            progress.clear()  # before the result lines, an error line or "interrupted"
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        if result.stdout:
            print(result.stdout, end="" if result.stdout.endswith("\n") else "\n")
        if result.stderr:
            print(result.stderr, end="" if result.stderr.endswith("\n") else "\n", file=sys.stderr)
        verdict = "SUCCESS" if result.success else "FAILED"
        print(
            f"{result.task} seed {result.seed}: {verdict}  reward {result.reward:.3f}  "
            f"cube height {result.cube_height:.3f} m  steps {result.steps} "
            f"({result.sim_time_s:.1f} s simulated)  wall {result.wall_time_s:.2f} s"
        )
        if result.error:
            print(f"program error: {result.error}")
        for name, path in result.frames.items():
            print(f"{name} frame: {path}")
    return 0 if result.success else 1
