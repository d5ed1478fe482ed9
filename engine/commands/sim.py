"""``autocapx sim``: run a program against a fresh scene."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.errors import UserError
from engine.world import CAMERA_SIZE, MAX_CAMERA_SIZE, MIN_CAMERA_SIZE, WorldSpec


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


def _run(args: argparse.Namespace) -> int:
    try:
        source = args.program.read_text()
    except OSError as exc:
        raise UserError(f"cannot read program {args.program}: {exc.strerror}") from None
    if not MIN_CAMERA_SIZE <= args.camera_size <= MAX_CAMERA_SIZE:
        raise UserError(
            f"--camera-size must be between {MIN_CAMERA_SIZE} and {MAX_CAMERA_SIZE}, "
            f"got {args.camera_size}"
        )
    import asyncio

    from engine.sandbox.program import run_program_sandboxed
    from engine.skills.library import builtin_library

    library = builtin_library(args.library)

    result = asyncio.run(
        run_program_sandboxed(
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
        )
    )
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
