"""Store and sweep benchmark: event write rate, resume scan of a big session, sweep throughput.

Run: ``python bench/store_bench.py [--latency 6] [--concurrency 4] [--trials 16] [--quick]``
(``--quick``: small sizes and a 1 s LLM, so CI keeps this bench running; the ratios still print).
Throughput uses the real sweep runner, sandbox workers and store, with an LLM stand-in that
takes ``latency`` seconds per trial (half per turn: code, then FINISH); the goal is >= 90% of
the ideal ``concurrency / latency`` trials per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

from engine.config import parse_config  # noqa: E402
from engine.events import LlmDelta  # noqa: E402
from engine.executors.local import LocalExecutor  # noqa: E402
from engine.llm.base import LLMReply, TextDelta  # noqa: E402
from engine.sandbox.result import ExecResult  # noqa: E402
from engine.store.db import open_db  # noqa: E402
from engine.store.writer import SessionWriter  # noqa: E402
from engine.sweep.plan import plan_trials, trial_key  # noqa: E402
from engine.sweep.runner import SweepRunner  # noqa: E402
from engine.sweep.session import create_session  # noqa: E402
from engine.trial.records import BlockRecord, TrialRecord  # noqa: E402
from engine.trial.spec import LibrarySnapshot  # noqa: E402


def event_rate(n: int = 50_000) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        writer = SessionWriter(Path(tmp) / "s.db")
        t0 = time.perf_counter()
        for i in range(n):
            writer.event(LlmDelta(block=0, text=f"token {i} "), "r0/P21_a/x/0001", 1)
        writer.flush()
        elapsed = time.perf_counter() - t0
        writer.close()
    return n / elapsed


def resume_scan(n: int = 10_000) -> tuple[float, float]:
    """Build a session of n done trials (3 blocks each), then time what resume does before running."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "session.db"
        writer = SessionWriter(path)
        writer.create_session(
            "big",
            task="cube_lift",
            config={},
            config_hash="x",
            code_version="b",
            synthetic=True,
            total_trials=n,
        )
        t_build = time.perf_counter()
        result = ExecResult(ok=True, stdout="o" * 200)
        for i in range(n):
            key = trial_key(0, "P21_a", "syn", i)
            run_id = writer.begin_run(
                trial_key=key,
                trial_index=i,
                condition="P21_a",
                backbone="syn",
                seed=i,
                backend="synthetic",
                model="bench",
                synthetic=True,
                library_version="",
            )
            record = TrialRecord(key, "cube_lift", i, "synthetic", "bench", True)
            for b in range(3):
                block = BlockRecord(
                    index=b,
                    decision="initial" if b == 0 else "regenerate",
                    prompt="p" * 2000,
                    reply="r" * 1500,
                    code="c" * 1500,
                    result=result,
                )
                writer.add_block(run_id, key, block)
                record.blocks.append(block)
            writer.finish_run(run_id, record)
        writer.close()
        build = time.perf_counter() - t_build
        t0 = time.perf_counter()
        db = open_db(path, check=True)
        writer = SessionWriter(path)
        writer.attach()
        writer.abandon_running()
        done = writer.done_keys()
        config = parse_config(
            f"[session]\ntrials_per_condition = {n}\n[[backbones]]\nname='syn'\n[[conditions]]\nname='P21_a'\n"
        )
        todo = [p for p in plan_trials(config) if p.key not in done]
        elapsed = time.perf_counter() - t0
        writer.close()
        db.conn.close()
        assert not todo and len(done) == n
        size_mb = path.stat().st_size / 2**20
    print(f"  (built a {n}-trial session of {size_mb:.0f} MB in {build:.1f} s)")
    return elapsed, size_mb


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


async def throughput(latency: float, concurrency: int, trials: int) -> float:
    text = (
        f"[session]\nname='bench'\ntrials_per_condition = {trials}\nconcurrency = {concurrency}\n"
        "quality = 'fast'\n[[backbones]]\nname='lat'\n[[conditions]]\nname='P21_a'\n"
    )
    config = parse_config(text)
    with tempfile.TemporaryDirectory() as tmp:
        directory = create_session(config, Path(tmp))
        writer = SessionWriter(directory / "session.db")
        writer.attach()
        executor = LocalExecutor(backend_factory=lambda b, s: LatencyBackend(latency / 2))
        runner = SweepRunner(config, writer, lambda _: LibrarySnapshot(), executor=executor)
        t0 = time.perf_counter()
        await runner.run(plan_trials(config))
        elapsed = time.perf_counter() - t0
        writer.close()
    return trials / elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=6.0, help="LLM seconds per trial")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 s LLM latency")
    args = parser.parse_args()
    events, session_trials = (50_000, 10_000)
    if args.quick:
        events, session_trials = 2_000, 200
        args.latency, args.concurrency, args.trials = 1.0, 2, 4
    print(f"event writes: {event_rate(events):,.0f} events/s (batched commits)")
    scan, _ = resume_scan(session_trials)
    print(
        f"resume scan of a {session_trials:,}-trial session (integrity check, abandon, done keys, "
        f"plan diff): {scan:.2f} s (goal < 1 s at 10,000)"
    )
    rate = asyncio.run(throughput(args.latency, args.concurrency, args.trials))
    ideal = args.concurrency / args.latency
    print(
        f"sweep throughput, LLM latency {args.latency:g} s/trial, concurrency {args.concurrency}: "
        f"{rate:.3f} trials/s = {100 * rate / ideal:.0f}% of c/L = {ideal:.3f} (goal >= 90%)"
    )
    if args.quick:
        print(
            "  (quick: at 1 s per trial the sandbox start-up is not amortised; run without --quick)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
