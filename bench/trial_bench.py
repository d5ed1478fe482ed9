"""Trial engine benchmark: what a sandbox worker costs to start, where a trial's time goes, and
how fast sweeps run, with today's spawned workers (old) and the fork server (new) side by side.

Every figure is measured in this one run, old and new interleaved, so the ratios hold on a
machine other people are using too (the absolute figures do not: the load is printed).

1. **worker start-up**: a sandbox worker until it is ready to run the first block (scene built,
   GL context, first frame, guards up), spawned (a fresh interpreter) against forked from the
   zygote (:mod:`engine.sandbox.zygote`), fast and full render.
2. **where a trial's time goes** (synthetic coder at zero latency, one trial at a time): LLM,
   sandboxed execution, worker start/stop, and the rest (prompts, IPC, events): the engine's
   overhead.
3. **simulation-bound sweep**: the synthetic coder answering instantly, ``--concurrency`` trials
   in flight, through the real sweep runner and store: trials per minute, old against new.
4. **LLM-bound sweep**: an LLM stand-in that answers after a fixed latency (``L`` s per trial,
   half per turn: code, then FINISH) at concurrency ``c``: throughput against the ideal
   ``min(c / L, CPU ceiling)`` (the CPU ceiling: cores / CPU seconds a trial uses besides the
   LLM, measured by the simulation-bound run), old against new.

Run: ``python bench/trial_bench.py [--trials N] [--concurrency C] [--latency L] [--quick]``
(``--quick``: a few trials and short latencies, so CI keeps this bench running; its figures
print but are not the ones to quote).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

from engine.config import parse_config  # noqa: E402
from engine.executors.local import LocalExecutor  # noqa: E402
from engine.llm.base import LLMReply, TextDelta  # noqa: E402
from engine.llm.synthetic import SyntheticBackend  # noqa: E402
from engine.sandbox import zygote  # noqa: E402
from engine.sandbox.worker import SandboxWorker  # noqa: E402
from engine.store.writer import SessionWriter  # noqa: E402
from engine.sweep.plan import plan_trials  # noqa: E402
from engine.sweep.runner import SweepRunner  # noqa: E402
from engine.sweep.session import create_session  # noqa: E402
from engine.trial.block_runner import BlockRunner  # noqa: E402
from engine.trial.loop import run_trial  # noqa: E402
from engine.trial.spec import LibrarySnapshot, TrialSpec  # noqa: E402
from engine.world import ENV_FACTORY, WorldSpec  # noqa: E402

PATHS = ("spawn", "fork")
LABEL = {"spawn": "old (spawn)", "fork": "new (fork server)"}


def use(path: str) -> None:
    """Workers of what runs next start this way (read when a worker starts)."""
    os.environ[zygote.MODE_ENV] = path


def cpu_seconds() -> float:
    """CPU time of this process, its reaped children (spawned workers) and of the live zygote
    with its reaped children (forked workers)."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    tick = os.sysconf("SC_CLK_TCK")
    for pid in zygote.zygote_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
    return total


# --------------------------------------------------------------------------- 1. start-up
async def start_times(path: str, quality: str, repeats: int) -> tuple[list[float], dict]:
    """Start-up times of ``repeats`` workers, and the median of each phase of their starts."""
    use(path)
    await _start_one(quality, 999)  # the zygote's own start and compile: once per node
    times, phases = [], []
    for seed in range(repeats):
        elapsed, phase = await _start_one(quality, seed)
        times.append(elapsed)
        phases.append(phase)
    await zygote.aclose_all()
    keys = phases[0].keys() if phases else ()
    return times, {k: statistics.median(p.get(k, 0.0) for p in phases) for k in keys}


async def _start_one(quality: str, seed: int) -> tuple[float, dict]:
    worker = SandboxWorker(ENV_FACTORY, WorldSpec(seed=seed, quality=quality).to_kwargs())
    t0 = time.perf_counter()
    await worker.start()
    elapsed = time.perf_counter() - t0
    await worker.close()
    return elapsed, dict(worker.start_phases)


# --------------------------------------------------------------------------- 2. split
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
            TimedRunner.teardown_s += self.worker.deferred_start_s  # first frame, after ready

    async def start(self, library=None, sink=None):  # type: ignore[override]
        t0 = time.perf_counter()
        try:
            return await super().start(library, sink or (lambda e: None))
        finally:
            TimedRunner.startup_s += time.perf_counter() - t0


async def split(n: int, quality: str) -> dict:
    use("fork")
    warm = TrialSpec(trial_id="warm-up", world=WorldSpec(seed=999, quality=quality))
    await run_trial(warm, SyntheticBackend("weak", 999))  # imports, the zygote: not counted
    wall = llm = execute = 0.0
    TimedRunner.startup_s = TimedRunner.teardown_s = 0.0
    for seed in range(n):
        spec = TrialSpec(trial_id=f"b{seed}", world=WorldSpec(seed=seed, quality=quality))
        t0 = time.perf_counter()
        record = await run_trial(spec, SyntheticBackend("weak", seed), runner=TimedRunner(spec))
        wall += time.perf_counter() - t0
        llm += record.llm_time_s
        execute += record.exec_time_s
    await zygote.aclose_all()
    startup = TimedRunner.startup_s + TimedRunner.teardown_s
    other = max(0.0, wall - llm - execute - startup)
    return {"n": n, "wall": wall, "llm": llm, "exec": execute, "startup": startup, "other": other}


# --------------------------------------------------------------------------- 3./4. sweeps
class LatencyBackend:
    """Answers after a fixed delay: code first, then FINISH (an LLM stand-in for throughput)."""

    name = "latency"
    synthetic = True

    def __init__(self, per_turn_s: float) -> None:
        self.model = f"latency-{per_turn_s:g}s"
        self.per_turn_s = per_turn_s

    async def stream(self, messages, *, images=None):
        await asyncio.sleep(self.per_turn_s)
        first_turn = "Respond with EXACTLY ONE of" not in messages[-1]["content"]
        text = "print('moving on')" if first_turn else "FINISH"
        yield TextDelta(text)
        yield LLMReply(
            text=text,
            model=self.model,
            backend=self.name,
            synthetic=True,
            latency_s=self.per_turn_s,
            finish_reason="stop",
        )


SWEEP = """
[session]
name = "bench"
trials_per_condition = {n}
concurrency = {c}
quality = "{quality}"

[[backbones]]
name = "syn"
backend = "synthetic"
profile = "weak"

[[conditions]]
name = "P21_a"
library = "none"
"""


async def sweep(path: str, n: int, c: int, quality: str, latency: float | None) -> dict:
    """One sweep through the real runner and store; trials/min and CPU s per trial."""
    use(path)
    config = parse_config(SWEEP.format(n=n, c=c, quality=quality))
    factory = None
    if latency is not None:
        factory = lambda b, s: LatencyBackend(latency / 2)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        directory = create_session(config, Path(tmp))
        writer = SessionWriter(directory / "session.db")
        writer.attach()
        executor = LocalExecutor(backend_factory=factory) if factory else LocalExecutor()
        runner = SweepRunner(config, writer, lambda _: LibrarySnapshot(), executor=executor)
        await _warm(quality)  # the zygote (or the imports): once per node, not per sweep
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        await runner.run(plan_trials(config))
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        results = sorted(
            (t["trial_key"], t["final_success"], t["n_blocks"])
            for t in writer.reader.trials(status="done")
        )
        writer.close()
    await zygote.aclose_all()
    return {
        "per_min": 60.0 * n / elapsed,
        "per_s": n / elapsed,
        "cpu_per_trial": cpu / n,
        "results": results,
    }


async def _warm(quality: str) -> None:
    await _start_one(quality, 998)  # the zygote: started once per node, not per sweep


def load_note() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load unknown"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40, help="trials per sweep")
    parser.add_argument("--concurrency", type=int, default=2, help="simulation-bound sweep")
    parser.add_argument("--latency", type=float, default=6.0, help="LLM s per trial (sweep 4)")
    parser.add_argument("--llm-concurrency", type=int, default=4)
    parser.add_argument("--llm-trials", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="old/new sweep pairs")
    parser.add_argument("--quick", action="store_true", help="a few trials, short latency")
    args = parser.parse_args()
    starts = 5
    if args.quick:
        args.trials, args.repeats, starts = 3, 1, 2
        args.latency, args.llm_concurrency, args.llm_trials = 1.0, 2, 4
    print(f"trial bench on this machine: {load_note()}")

    print("\n1. worker start-up (until ready: scene, GL context, first frame, guards)")
    for quality in ("fast", "full"):
        line = []
        medians = {}
        phases = {}
        for path in PATHS:
            times, phases[path] = asyncio.run(start_times(path, quality, starts))
            medians[path] = statistics.median(times)
            line.append(f"{LABEL[path]} median {medians[path]:.3f} s, min {min(times):.3f} s")
        ratio = medians["spawn"] / medians["fork"]
        print(f"  worker start-up ({quality} render): " + "; ".join(line) + f"; {ratio:.1f}x")
        for path in PATHS:
            parts = ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in phases[path].items())
            print(f"    {LABEL[path]}: {parts} s (medians; the rest: interpreter, imports, IPC)")
        print("    (a forked worker with a warm renderer makes its first frame after ready)")

    n_split = 2 if args.quick else 10
    r = asyncio.run(split(n_split, "fast"))
    print(f"\n2. {r['n']} synthetic-weak trials one at a time (fast render, fork server)")
    for key, label in (
        ("llm", "LLM (synthetic coder)"),
        ("exec", "sandboxed execution"),
        ("startup", "worker start/stop"),
        ("other", "engine overhead"),
    ):
        print(f"  {label:24s} {r[key]:7.2f} s  {100 * r[key] / r['wall']:5.1f}%")
    steady = r["wall"] - r["startup"]
    bound = r["wall"] - r["startup"] - r["exec"]
    print(
        f"  time outside simulation and LLM, excluding worker start/stop: at most "
        f"{100 * bound / steady:.1f}% of trial time (goal < 5%)"
    )

    c, n = args.concurrency, args.trials
    print(f"\n3. simulation-bound sweep: {n} synthetic-weak trials, instant coder, {c} in flight")
    sim: dict[str, list[dict]] = {p: [] for p in PATHS}
    for _ in range(args.repeats):
        for path in PATHS:
            sim[path].append(asyncio.run(sweep(path, n, c, "fast", None)))
    for path in PATHS:
        rates = ", ".join(f"{s['per_min']:.0f}" for s in sim[path])
        cpu = statistics.mean(s["cpu_per_trial"] for s in sim[path])
        print(f"  {LABEL[path]:18s} {rates} trials/min  ({cpu:.2f} CPU s per trial)")
    old = statistics.mean(s["per_min"] for s in sim["spawn"])
    new = statistics.mean(s["per_min"] for s in sim["fork"])
    same = all(s["results"] == sim["spawn"][0]["results"] for p in PATHS for s in sim[p])
    print(
        f"  new / old: {new / old:.2f}x trials/min (goal >= 3x); per-trial results identical "
        f"on both paths: {'yes' if same else 'NO'}"
    )

    lat, lc, ln = args.latency, args.llm_concurrency, args.llm_trials
    print(f"\n4. LLM-bound sweep: {ln} trials, LLM latency L = {lat:g} s per trial, c = {lc}")
    cpu_trial = statistics.mean(s["cpu_per_trial"] for s in sim["fork"])
    for path in PATHS:
        s = asyncio.run(sweep(path, ln, lc, "fast", lat))
        cores = os.cpu_count() or 1
        ceiling = cores / max(s["cpu_per_trial"], 1e-9)
        ideal = min(lc / lat, ceiling)
        print(
            f"  {LABEL[path]:18s} {s['per_s']:.3f} trials/s = {100 * s['per_s'] / ideal:.0f}% of "
            f"the ideal {ideal:.3f} = min(c/L {lc / lat:.3f}, CPU ceiling {ceiling:.2f}) "
            f"(goal >= 95%; {s['cpu_per_trial']:.2f} CPU s per trial)"
        )
    print(f"  (simulation-bound CPU per trial, new path: {cpu_trial:.2f} s)")
    print(f"\nafter the run: {load_note()}")
    if args.quick:
        print("(quick: small sizes; run without --quick for the figures to quote)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
