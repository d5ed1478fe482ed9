"""Simulator benchmark: step cost vs raw mj_step, real-time factor of a reference episode, render cost.

Run: ``python bench/sim_bench.py [--quick]`` (figures are ratios and times measured in this one
run; ``--quick``: fewer repeats, one episode seed and one frame size, so CI keeps it running).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402

from engine.api.env import build_env  # noqa: E402
from engine.api.runner import run_program  # noqa: E402
from engine.sim.simulator import SUBSTEPS, SimConfig, Simulator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _best(fn, repeats: int = 5) -> float:
    return min(fn() for _ in range(repeats))


def step_cost(repeats: int = 5) -> dict:
    """Per physics step: our control step (25 mj_steps with servo targets) vs raw mj_step on the same model."""
    sim = Simulator(SimConfig(quality="fast"), seed=1)
    m, d = sim.model, sim.data
    control_steps = 200 if repeats > 1 else 40

    def ours() -> float:
        sim.reset(1)
        sim.counters.control_steps = 0
        t0 = time.perf_counter()
        for _ in range(control_steps):
            sim.control_step()
        return (time.perf_counter() - t0) / (control_steps * SUBSTEPS)

    def raw() -> float:
        sim.reset(1)
        t0 = time.perf_counter()
        for _ in range(control_steps * SUBSTEPS):
            mujoco.mj_step(m, d)
        return (time.perf_counter() - t0) / (control_steps * SUBSTEPS)

    def moving() -> float:
        """A blocking move, which also ramps targets and checks convergence every control step."""
        sim.reset(1)
        q = sim.arm_qpos()
        t0 = time.perf_counter()
        before = sim.counters.physics_steps
        for k in range(4):
            q[0] += 0.4 if k % 2 == 0 else -0.4
            sim.move_to_joints(q)
        return (time.perf_counter() - t0) / (sim.counters.physics_steps - before)

    ours_s, raw_s, move_s = _best(ours, repeats), _best(raw, repeats), _best(moving, repeats)
    return {"ours_us": ours_s * 1e6, "raw_us": raw_s * 1e6, "move_us": move_s * 1e6}


def episode_rtf(quality: str, seeds: range) -> dict:
    """Simulated time / wall time of the reference cube_lift program (perception and IK included)."""
    source = (ROOT / "examples" / "cube_lift.py").read_text()
    env = build_env(quality=quality, seed=seeds.start)
    run_program(source, env=env, seed=seeds.start)  # warm-up: GL context, caches
    rtfs, walls = [], []
    for seed in seeds:
        env.reset(seed)
        t0 = time.perf_counter()
        result = run_program(source, env=env, seed=seed)
        wall = time.perf_counter() - t0
        rtfs.append(result.sim_time_s / wall)
        walls.append(wall)
    return {"rtf": statistics.median(rtfs), "wall_s": statistics.median(walls)}


def render_cost(quality: str, size: int, frames: int = 10) -> dict:
    """ms per frame: three separate passes (RGB, depth, segmentation: the old path) against
    the two the renderer makes now (RGB; depth and segmentation from one pass), each frame of
    a scene that moved (a control step between frames, not timed), and a frame asked for again
    with nothing moved (a copy of the last one)."""
    from engine.sim.render import render_three_passes

    sim = Simulator(SimConfig(quality=quality, camera_size=size), seed=1)
    sim.render()  # context creation is not a per-frame cost
    renderer = sim._renderer
    times: dict[str, list[float]] = {"three": [], "two": [], "again": []}
    for _ in range(frames):
        sim.control_step()
        t0 = time.perf_counter()
        render_three_passes(renderer, sim.data)
        t1 = time.perf_counter()
        sim.render()
        t2 = time.perf_counter()
        sim.render()
        t3 = time.perf_counter()
        times["three"].append(t1 - t0)
        times["two"].append(t2 - t1)
        times["again"].append(t3 - t2)
    sim.close()
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    args = parser.parse_args()
    repeats, seeds, sizes = (1, range(1, 2), (256,)) if args.quick else (5, range(1, 6), (256, 512))
    print(
        f"mujoco {mujoco.__version__}, MUJOCO_GL={os.environ['MUJOCO_GL']}, {os.cpu_count()} cpus"
    )
    s = step_cost(repeats)
    print(
        f"physics step: ours {s['ours_us']:.1f} us, raw mj_step loop {s['raw_us']:.1f} us "
        f"-> ratio {s['ours_us'] / s['raw_us']:.2f}x (goal <= 1.25x)"
    )
    print(
        f"during blocking moves: {s['move_us']:.1f} us per physics step "
        f"-> ratio {s['move_us'] / s['raw_us']:.2f}x raw"
    )
    for quality in ("fast", "full"):
        e = episode_rtf(quality, seeds)
        print(
            f"reference cube_lift episode ({quality} render): {e['wall_s']:.2f} s wall, "
            f"real-time factor {e['rtf']:.1f}x (goal >= 20x)"
        )
    for quality in ("fast", "full"):
        for size in sizes:
            r = render_cost(quality, size, frames=3 if args.quick else 10)
            print(
                f"render RGB+depth+segmentation {size}x{size} ({quality}): {r['two']:.1f} ms per "
                f"frame (three passes, the old path: {r['three']:.1f} ms, "
                f"{r['three'] / r['two']:.2f}x; the same frame again: {r['again']:.1f} ms)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
