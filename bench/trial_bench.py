"""Trial engine benchmark: where the wall time of a trial goes, and what a sandbox worker costs.

With the synthetic coder at zero latency, the time of a trial splits into LLM (the coder),
execution in the sandbox (simulation, rendering, perception, IK: the child's measured block
time), worker start-up, and everything else (prompt building, IPC, feedback, events): the
engine's overhead, whose share should stay under 5%.

Run: ``python bench/trial_bench.py [--trials N] [--quality fast|full] [--quick]``
(``--quick``: 2 trials and one start-up sample per quality, so CI keeps this bench running).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")

from engine.llm.synthetic import SyntheticBackend  # noqa: E402
from engine.sandbox.worker import SandboxWorker  # noqa: E402
from engine.trial.block_runner import BlockRunner  # noqa: E402
from engine.trial.loop import run_trial  # noqa: E402
from engine.trial.spec import TrialSpec  # noqa: E402
from engine.world import ENV_FACTORY, WorldSpec  # noqa: E402


class TimedRunner(BlockRunner):
    """A block runner that adds up its worker's start and stop times."""

    startup_s = 0.0
    teardown_s = 0.0

    async def close(self) -> None:
        t0 = time.perf_counter()
        try:
            await super().close()
        finally:
            TimedRunner.teardown_s += time.perf_counter() - t0

    async def start(self, library=None, sink=None):  # type: ignore[override]
        t0 = time.perf_counter()
        try:
            return await super().start(library, sink or (lambda e: None))
        finally:
            TimedRunner.startup_s += time.perf_counter() - t0


async def trials(n: int, quality: str) -> dict:
    # imports, caches: not counted
    warm = TrialSpec(trial_id="warm-up", world=WorldSpec(seed=999, quality=quality))
    await run_trial(warm, SyntheticBackend("weak", 999))
    wall = llm = execute = 0.0
    TimedRunner.startup_s = TimedRunner.teardown_s = 0.0
    successes = 0
    for seed in range(n):
        spec = TrialSpec(trial_id=f"b{seed}", world=WorldSpec(seed=seed, quality=quality))
        t0 = time.perf_counter()
        record = await run_trial(spec, SyntheticBackend("weak", seed), runner=TimedRunner(spec))
        wall += time.perf_counter() - t0
        llm += record.llm_time_s
        execute += record.exec_time_s
        successes += record.final_success
    startup = TimedRunner.startup_s + TimedRunner.teardown_s
    other = max(0.0, wall - llm - execute - startup)
    return {
        "n": n,
        "wall": wall,
        "llm": llm,
        "exec": execute,
        "startup": startup,
        "other": other,
        "ok": successes,
    }


async def startup_cost(quality: str, repeats: int = 5) -> dict:
    times = []
    for seed in range(repeats):
        worker = SandboxWorker(ENV_FACTORY, WorldSpec(seed=seed, quality=quality).to_kwargs())
        t0 = time.perf_counter()
        await worker.start()
        times.append(time.perf_counter() - t0)
        await worker.close()
    return {"median": statistics.median(times), "min": min(times)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--quality", choices=("fast", "full"), default="fast")
    parser.add_argument("--quick", action="store_true", help="2 trials, 1 start-up sample")
    args = parser.parse_args()
    if args.quick:
        args.trials = 2
    r = asyncio.run(trials(args.trials, args.quality))
    print(
        f"{r['n']} synthetic-weak trials ({args.quality} render), {r['ok']} succeeded, {r['wall']:.1f} s wall"
    )
    for key, label in (
        ("llm", "LLM (synthetic coder)"),
        ("exec", "sandboxed execution"),
        ("startup", "worker start/stop"),
        ("other", "engine overhead"),
    ):
        print(f"  {label:24s} {r[key]:7.2f} s  {100 * r[key] / r['wall']:5.1f}%")
    # The worker starts while the coder writes block 0, so start-up and LLM time overlap a
    # little; counting the LLM as overhead gives an upper bound that needs no overlap model.
    steady = r["wall"] - r["startup"]
    bound = r["wall"] - r["startup"] - r["exec"]
    print(
        f"time outside simulation and LLM, excluding worker start/stop: at most "
        f"{100 * bound / steady:.1f}% of trial time (goal < 5%)"
    )
    for quality in ("fast", "full"):
        s = asyncio.run(startup_cost(quality, repeats=1 if args.quick else 5))
        print(
            f"worker start-up ({quality} render, builds the scene and GL context): median {s['median']:.2f} s, min {s['min']:.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
