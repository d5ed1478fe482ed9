"""Console benchmark: keypress-to-repaint latency under event load, memory over a long session.

1. While another thread appends 500 events/s to the session (streamed code, stdout, status),
   switch panes by key in a real terminal (the console under tmux, 80x24) and time each key
   until the new pane's text is on screen; report p50/p95 (goal p95 < 50 ms). Without tmux,
   Textual's Pilot is used instead (an upper bound: it adds its own idle waits).
2. Ingest a 2,000-trial session (about 30 events per trial) and report the console's resident
   memory growth (goal < 50 MB).

Run: ``python bench/tui_bench.py [--quick]`` (``--quick``: fewer key presses and a 100-trial
session, so CI keeps this bench running; the figures still print).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the fixed session from tests/

from autocapx_tui.app import ConsoleApp  # noqa: E402
from engine.events import (  # noqa: E402
    CodeReady,
    Decision,
    Event,
    ExecFinished,
    LlmDelta,
    SimStatus,
    Stdout,
    TrialFinished,
    TrialStarted,
)
from engine.store.writer import SessionWriter  # noqa: E402
from tests import tui_fixture  # noqa: E402

EVENTS_PER_S = 500


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def trial_events(seed: int) -> list[Event]:
    """What a two-block trial records: streamed code, stdout, status, results."""
    code = tui_fixture.CODE
    out: list[Event] = [
        TrialStarted(condition="P21_a", backend="synthetic", seed=seed, model="m", synthetic=True)
    ]
    for block in range(2):
        out.append(Decision(block=block, decision="initial" if block == 0 else "regenerate"))
        out += [LlmDelta(block=block, text=code[i : i + 40]) for i in range(0, len(code), 40)]
        out.append(CodeReady(block=block, code=code))
        out += [Stdout(block=block, line=f"line {i}") for i in range(5)]
        status = {"phase": "moving", "gripper": "open", "cube_height": 0.02, "step": 40}
        out.append(SimStatus(block=block, status=status))
        out.append(ExecFinished(block=block, ok=True, success=block == 1, reward=1.0))
    out.append(TrialFinished(summary={"final_success": True, "end_reason": "finish"}))
    return out


class Producer(threading.Thread):
    """Appends events at a steady rate through the store's writer, as a runner would."""

    def __init__(self, db: Path, rate: int) -> None:
        super().__init__(daemon=True)
        self.db, self.rate, self.stop = db, rate, threading.Event()
        self.written = 0

    def run(self) -> None:
        writer = SessionWriter(self.db, create=False)
        seed = 0
        batch_every = 0.05
        per_batch = int(self.rate * batch_every)
        pending: list[tuple[str, Event]] = []
        try:
            while not self.stop.is_set():
                while len(pending) < per_batch:
                    seed += 1
                    key = f"r0/P21_a/syn/{seed:05d}"
                    pending += [(key, e) for e in trial_events(seed)]
                batch, pending = pending[:per_batch], pending[per_batch:]
                for key, event in batch:
                    writer.event(event, key, 1)
                writer.flush()
                self.written += len(batch)
                time.sleep(batch_every)
        finally:
            writer.close()


async def latency(db: Path, presses: int = 200) -> list[float]:
    app = ConsoleApp(db)
    producer = Producer(db, EVENTS_PER_S)
    times = []
    async with app.run_test(size=(80, 24)) as pilot:
        producer.start()
        await pilot.pause(0.5)
        keys = "2152"
        for i in range(presses):
            t0 = time.perf_counter()
            await pilot.press(keys[i % len(keys)])
            await pilot.pause()
            times.append(time.perf_counter() - t0)
        producer.stop.set()
    producer.join()
    print(f"  ({producer.written} events written during the run)")
    return times


async def memory(db: Path, trials: int = 2000) -> tuple[float, float, int]:
    writer = SessionWriter(db, create=False)
    n = 0
    for seed in range(trials):
        for event in trial_events(seed):
            writer.event(event, f"r0/C2/syn/{seed:05d}", 1)
            n += 1
    writer.flush()
    writer.close()
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        before = rss_mb()
        while app.session.refresh_now():  # batches of events, as the live worker reads them
            await pilot.pause()
        app.session.refresh_now(everything=True)
        await pilot.pause()
        after = rss_mb()
    return before, after, n


def terminal_latency(root: Path, presses: int = 60) -> list[float] | None:
    """Key sent to a real terminal (tmux) -> the new pane's text on screen, under event load."""
    import shutil
    import subprocess

    if shutil.which("tmux") is None:
        return None

    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", "autocapx-bench", *args], capture_output=True, text=True
        ).stdout

    db = tui_fixture.build(root / "sessions" / "fixture-session")
    command = f"{sys.executable} -m engine attach fixture-session --sessions-dir {root / 'sessions'}; sleep 60"
    tmux("new-session", "-d", "-s", "b", "-x", "80", "-y", "24", command)
    producer = Producer(db, EVENTS_PER_S)
    try:
        t0 = time.time()
        while "Overview" not in tmux("capture-pane", "-t", "b", "-p"):
            if time.time() - t0 > 30:
                return None
            time.sleep(0.05)
        producer.start()
        marks = {"4": "override", "1": "trials done", "5": "interval", "2": "turns:"}
        times = []
        for i in range(presses):
            key = "4152"[i % 4]
            t = time.perf_counter()
            tmux("send-keys", "-t", "b", key)
            while marks[key] not in tmux("capture-pane", "-t", "b", "-p"):
                time.sleep(0.002)
            times.append(time.perf_counter() - t)
        return times
    finally:
        producer.stop.set()
        tmux("kill-server")


def _report(label: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(f"{label}: p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms (goal p95 < 50 ms)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer presses, a small session")
    args = parser.parse_args()
    presses, tty_presses, trials = (20, 12, 100) if args.quick else (200, 60, 2000)
    with tempfile.TemporaryDirectory() as tmp:
        real = terminal_latency(Path(tmp) / "tty", tty_presses)
        if real is not None:
            _report(
                f"pane switch in a real terminal (tmux, 80x24) while ingesting {EVENTS_PER_S} events/s",
                real,
            )
        db = tui_fixture.build(Path(tmp) / "lat")
        _report(
            f"pane switch through Textual's Pilot (headless) while ingesting {EVENTS_PER_S} events/s",
            asyncio.run(latency(db, presses)),
        )
        db2 = tui_fixture.build(Path(tmp) / "mem")
        before, after, n = asyncio.run(memory(db2, trials))
        print(
            f"memory over a {trials:,}-trial session ({n:,} events): {before:.0f} MB -> "
            f"{after:.0f} MB, growth {after - before:.1f} MB (goal < 50 MB at 2,000 trials)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
