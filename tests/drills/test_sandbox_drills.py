"""Sandbox drills: the trial's worker killed from outside (a re-run, never the trial's result),
and the trial's own limits (memory, wall clock, CPU on a loaded machine), which stay its own.

A worker the OOM killer or an operator ``kill -9``s says nothing about the trial's code: the
run is abandoned (``WorkerLost``) and the trial runs again from its start, so its counted
result is that of an uninterrupted run of the same seed. A block that overruns its own memory,
wall-clock or CPU limit is the LLM's doing: the trial goes on and the LLM is told.

The external kill hits the sandbox process of *this* test only: found in ``/proc`` as a
``python -m engine.sandbox.child`` (or a worker forked by the fork server, named
``autocapx-worker``) descended from the test process (other tests or sweeps on
the machine are never touched). Nothing here bounds wall time: a loaded machine makes these
drills slower, never different.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import load_config
from engine.llm.replay import ReplayBackend
from engine.sandbox.worker import SandboxWorker
from engine.sandbox.zygote import WORKER_NAME, zygote_pids
from engine.store.reader import SessionReader
from engine.sweep.session import create_session, execute_session
from engine.trial.block_runner import BlockRunner
from engine.trial.loop import run_trial
from tests.sweep_helpers import done_rows, query, trial_spec, write_config

ROOT = Path(__file__).resolve().parents[2]
LIFT = (ROOT / "examples" / "cube_lift.py").read_text()
TOY = "engine.sandbox.toy:build_toy"
SLOW_BLOCK = "import time\nprint('block 0 runs')\ntime.sleep(4)\n" + LIFT
"""The first block of every trial of the sweep drills: long enough to be killed in the middle
of, and a lift whose outcome depends on the seed's scene."""
REPLAY = 'name = "rep"\nbackend = "replay"\nreplies = "replies.jsonl"\nmodel = "replayed"'


# --------------------------------------------------------------------------- helpers
def sandbox_processes(ancestor: int | None = None) -> list[int]:
    """Pids of live sandbox workers (``python -m engine.sandbox.child``) descended from
    ``ancestor`` (default: this process): this test's own, never anyone else's."""
    ancestor = os.getpid() if ancestor is None else ancestor
    parent: dict[int, int] = {}
    workers: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        parent[int(entry)] = int(fields[1])
        forked = stat.split("(", 1)[1].startswith(WORKER_NAME + ")")  # by the fork server
        if (b"engine.sandbox.child" in cmdline or forked) and fields[0] != "Z":
            workers.append(int(entry))

    def descends(pid: int) -> bool:
        seen: set[int] = set()
        while pid > 1 and pid not in seen:
            seen.add(pid)
            pid = parent.get(pid, 0)
            if pid == ancestor:
                return True
        return False

    return sorted(p for p in workers if descends(p))


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process ``pid`` has used so far, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _exit_name(status: int) -> str:
    return signal.Signals(-status).name if status < 0 else f"exit status {status}"


def _children_cpu() -> float:
    """CPU time of the workers reaped so far: this process's children (spawned workers) and
    the fork server's (forked workers, from its /proc entry: cutime + cstime)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = used.ru_utime + used.ru_stime
    for pid in zygote_pids():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return total


def _replay_sweep(tmp_path: Path, name: str, n: int = 2) -> Path:
    """A sweep config: two conditions x ``n`` seeds, one trial at a time, a replay coder whose
    first block sleeps, then lifts; its second reply is FINISH."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    replies = ["```python\n" + SLOW_BLOCK + "```", "FINISH"]
    (tmp_path / "replies.jsonl").write_text(
        "".join(json.dumps({"text": r}) + "\n" for r in replies)
    )
    return write_config(tmp_path / f"{name}.toml", n=n, concurrency=1, backbone=REPLAY)


def _results(db: Path) -> dict[str, tuple]:
    """Each done trial's counted result (the run id and the time it ended left out)."""
    return {key: row[1:-1] for key, row in done_rows(db).items()}


def _table(db: Path) -> list[tuple]:
    from engine.stats.summary import live_summary

    reader = SessionReader(db)
    try:
        return [(s.condition, s.backbone, s.k, s.n) for s in live_summary(reader)]
    finally:
        reader.close()


async def _a_block_running(db: Path, sweep: asyncio.Task, timeout_s: float = 300.0) -> int:
    """The pid of the sandbox worker of the trial whose first block is running right now."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        assert not sweep.done(), sweep
        if db.exists():
            running = query(
                db,
                "SELECT t.run_id FROM trials t JOIN events x ON x.run_id = t.run_id "
                "AND x.kind = 'exec_started' WHERE t.status = 'running' AND NOT EXISTS "
                "(SELECT 1 FROM events r WHERE r.run_id = t.run_id AND r.kind = 'exec_result')",
            )
            workers = sandbox_processes()
            if running and len(workers) == 1:  # one trial at a time: its worker
                return workers[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no trial reached its first block")


def _lost_runs(db: Path) -> list[tuple]:
    return query(
        db,
        "SELECT e.trial_key, json_extract(e.data_json, '$.attempt'), "
        "json_extract(e.data_json, '$.reason'), t.status, t.error FROM events e "
        "JOIN trials t ON t.run_id = e.run_id WHERE e.kind = 'worker_lost'",
    )


def _runs_of(db: Path, key: str) -> list[tuple]:
    return query(
        db, "SELECT attempt, status FROM trials WHERE trial_key = ? ORDER BY run_id", (key,)
    )


# --------------------------------------------------------------------------- external kills
@pytest.mark.slow
async def test_a_sandbox_killed_from_outside_mid_block_is_rerun_not_counted(
    tmp_path: Path, drill
) -> None:
    config = load_config(_replay_sweep(tmp_path, "sweep"))
    clean = create_session(config, tmp_path / "clean")
    assert await execute_session(clean, config, quiet=True) == "finished"
    directory = create_session(config, tmp_path / "killed")
    db = directory / "session.db"
    sweep = asyncio.create_task(execute_session(directory, config, quiet=True))
    pid = await _a_block_running(db, sweep)
    os.kill(pid, signal.SIGKILL)  # as the OOM killer or an operator would
    status = await asyncio.wait_for(sweep, 600)

    lost = _lost_runs(db)
    victim = lost[0][0] if lost else ""
    results, expected = _results(db), _results(clean / "session.db")
    held = (
        status == "finished"
        and len(lost) == 1
        and lost[0][1] == 1
        and "SIGKILL" in lost[0][2]
        and f"pid {pid}" in lost[0][2]
        and lost[0][3] == "abandoned"
        and lost[0][4].startswith("worker lost:")
        and _runs_of(db, victim) == [(1, "abandoned"), (2, "done")]
        and results == expected
        and len(results) == 4
        and _table(db) == _table(clean / "session.db")
    )
    drill(
        "sandbox SIGKILLed mid-block (local)",
        f"{len(results)}/4 done, {len(lost)} re-run ({victim or '-'}), results "
        + ("= clean run" if results == expected else "differ from the clean run"),
        held,
    )
    assert status == "finished"
    assert len(lost) == 1, "exactly one worker_lost"
    assert lost[0][1] == 1 and "SIGKILL" in lost[0][2] and f"pid {pid}" in lost[0][2], lost
    assert lost[0][3] == "abandoned" and lost[0][4].startswith("worker lost:"), lost
    assert _runs_of(db, victim) == [(1, "abandoned"), (2, "done")], "run again, counted once"
    assert results == expected, "the counted result is the uninterrupted run's"
    assert len(results) == 4 and _table(db) == _table(clean / "session.db")
    assert query(db, "SELECT COUNT(*) FROM trials WHERE status = 'done'") == [(4,)]
    finished_lost = query(
        db,
        "SELECT COUNT(*) FROM events e JOIN trials t ON t.run_id = e.run_id "
        "WHERE e.kind = 'trial_finished' AND t.status = 'abandoned'",
    )
    assert finished_lost == [(0,)], "a lost run never says it finished"


async def test_a_block_past_its_own_memory_limit_is_the_trials(drill) -> None:
    """RLIMIT_AS in the worker: the allocation fails inside the block (MemoryError), the worker
    lives, the LLM is told and the trial goes on with its variables."""
    bomb = (
        "kept = 41\ndef grow():\n    hog = []\n    while True:\n"
        "        hog.append(bytearray(64 * 2**20))\ngrow()"
    )
    replies = [
        f"```python\n{bomb}\n```",
        "REGENERATE\n```python\nprint('still here', kept + 1)\n```",
        "FINISH",
    ]
    spec = trial_spec("memory", quality="fast", seed=3)
    runner = BlockRunner(spec)
    runner.worker.memory_bytes = 3 * 2**30  # the scene takes ~1.6 GiB of address space
    record = await run_trial(spec, ReplayBackend(replies), runner=runner)
    first, second = record.blocks[0], record.blocks[1]
    held = (
        record.end_reason == "finish"
        and "MemoryError" in (first.exception or "")
        and "MemoryError" in first.stderr
        and first.killed is None
        and not first.result.reset_note
        and "MemoryError" in second.prompt
        and second.ok
        and second.stdout == "still here 42\n"
    )
    drill(
        "block past its own memory limit (3 GiB)",
        f"{first.exception}; worker kept, trial went on ({record.end_reason})",
        held,
    )
    assert record.end_reason == "finish", record.error
    assert "MemoryError" in first.exception and "MemoryError" in first.stderr
    assert first.killed is None and not first.result.reset_note, "no kill, no reset"
    assert "MemoryError" in second.prompt, "the LLM is told"
    assert second.ok and second.stdout == "still here 42\n", "same worker, variables kept"


async def test_our_own_wall_clock_kill_is_the_trials(drill) -> None:
    """The parent kills the worker at the block's wall-clock limit: it knows it did, so this
    is the block's result (killed, scene reset, the LLM told), never a lost run."""
    replies = [
        "```python\nkept = 41\nwhile True:\n    pass\n```",
        "REGENERATE\n```python\ntry:\n    kept\nexcept NameError:\n    print('reset')\n```",
        "FINISH",
    ]
    spec = trial_spec("wall", quality="fast", seed=3, block_timeout_s=2)
    record = await run_trial(spec, ReplayBackend(replies))
    first, second = record.blocks[0], record.blocks[1]
    held = (
        record.end_reason == "finish"
        and first.killed == "wall-clock limit of 2 s exceeded"
        and bool(first.result.reset_note)
        and "wall-clock limit of 2 s exceeded" in second.prompt
        and second.stdout == "reset\n"
    )
    drill(
        "block past its wall-clock limit (2 s)",
        f"killed: {first.killed}; reset, trial went on ({record.end_reason})",
        held,
    )
    assert record.end_reason == "finish", record.error
    assert first.killed == "wall-clock limit of 2 s exceeded" and first.result.reset_note
    assert "wall-clock limit of 2 s exceeded" in second.prompt
    assert second.stdout == "reset\n", "a fresh worker: the scene and the variables were reset"


# --------------------------------------------------------------------------- CPU under load
@pytest.fixture
def loaded_machine() -> Iterator[int]:
    """2 x cpu_count busy loops for the test's duration (killed after): the machine is
    overloaded on purpose. Yields how many.

    Each in a session of its own, as the sandbox worker is: with the kernel's autogroup
    scheduling, busy loops sharing one session would share one session's fair share of the
    CPUs, and the worker would hardly notice them."""
    n = 2 * (os.cpu_count() or 1)
    burn = [sys.executable, "-c", "while True:\n    pass"]
    burners = [subprocess.Popen(burn, start_new_session=True) for _ in range(n)]
    try:
        yield n
    finally:
        for proc in burners:
            proc.kill()
        for proc in burners:
            proc.wait()


async def _burn(code: str, budget_s: float) -> tuple[object, float, float | None, float, int]:
    """Run ``code`` in a fresh worker with a CPU budget and a wall-clock limit far away: its
    result, the CPU the block used measured from outside (the worker's whole life, from the
    kernel when it was reaped, less what it had used when the block began), the worker's own
    figure, the wall time, the exit status."""
    w = SandboxWorker(TOY)
    await w.start()
    try:
        before = _children_cpu()  # no child of this process is reaped but the worker
        at_start = _cpu_seconds(w.proc.pid)
        t0 = time.monotonic()
        result = await w.run_block(code, timeout_s=600, cpu_s=budget_s)
        wall = time.monotonic() - t0
        await w.kill()  # reaped: its CPU time is in this process's children's usage now
        used = _children_cpu() - before - at_start
        return result, used, getattr(w, "block_cpu_s", None), wall, w.proc.returncode
    finally:
        await w.close()


async def test_the_cpu_limit_holds_in_cpu_time_on_a_loaded_machine(loaded_machine, drill) -> None:
    """The budget is CPU time, measured as such: however loaded the machine (and so however
    long the wall clock runs), the block is ended at its budget, not up to a second or two past
    it, with the CPU-limit reason."""
    budget = 1.0
    result, used, reported, wall, _ = await _burn("while True:\n    pass", budget)
    held = (
        result.killed == "CPU time limit of 1 s exceeded"
        and budget <= used < budget + 0.5
        and reported is not None
        and abs(reported - used) < 0.1
    )
    drill(
        f"CPU burn, budget 1 s, {loaded_machine} busy loops",
        f"ended at {used:.2f} s CPU (worker says {reported or 0:.2f} s), {wall:.1f} s wall",
        held,
    )
    assert budget <= used < budget + 0.5, f"the block used {used:.2f} s of CPU time"
    assert result.killed == "CPU time limit of 1 s exceeded", result
    assert reported is not None and abs(reported - used) < 0.1, (reported, used)


async def test_a_burn_holding_the_gil_is_ended_by_the_kernel_on_a_loaded_machine(
    loaded_machine, drill
) -> None:
    """One long C call starves the watchdog thread: the kernel's CPU timer (SIGPROF) ends the
    worker a quarter second past the budget (CPU_BACKSTOP_S), in CPU time too."""
    budget = 1.0
    result, used, _, wall, status = await _burn("sum(range(10 ** 14))", budget)
    held = (
        result.killed == "CPU time limit of 1 s exceeded"
        and status == -signal.SIGPROF
        and budget <= used < budget + 0.5
    )
    drill(
        f"GIL-holding burn, budget 1 s, {loaded_machine} busy loops",
        f"ended by {_exit_name(status)} at {used:.2f} s CPU, {wall:.1f} s wall",
        held,
    )
    assert budget <= used < budget + 0.5, f"the block used {used:.2f} s of CPU time"
    assert result.killed == "CPU time limit of 1 s exceeded" and status == -signal.SIGPROF


# --------------------------------------------------------------------------- under Ray
@pytest.fixture(scope="module")
def ray_cluster():
    pytest.importorskip("ray")
    from tests.ray_cluster import RayCluster

    cluster = RayCluster(workers=1, cpus_per_worker=1)
    saved = {k: os.environ.get(k) for k in cluster.driver_env}
    os.environ.update(cluster.driver_env)  # for the autocapx process the test starts
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.slow
def test_a_sandbox_killed_from_outside_under_ray_is_rerun(
    ray_cluster, tmp_path: Path, drill
) -> None:
    """The same kill on a Ray worker node: the actor's trial raises the loss, the head sees a
    WorkerLost (not a trial result, not a crash of the sweep) and runs the trial again."""
    from tests.sweep_helpers import autocapx

    config = _replay_sweep(tmp_path, "sweep", n=1)
    clean = autocapx("run", str(config), sessions=tmp_path / "clean")
    assert clean.wait(timeout=600) == 0, clean.stdout.read() + clean.stderr.read()
    sessions = tmp_path / "ray"
    args = ("run", str(config), "--executor", "ray", "--address", ray_cluster.address)
    proc = autocapx(*args, sessions=sessions)
    pid = 0
    t0 = time.monotonic()
    while not pid:
        assert time.monotonic() - t0 < 300 and proc.poll() is None, "no trial reached a block"
        for db in sessions.glob("*/session.db"):
            try:
                running = query(
                    db,
                    "SELECT json_extract(p.data_json, '$.pid') FROM trials t "
                    "JOIN events p ON p.run_id = t.run_id AND p.kind = 'trial_placed' "
                    "JOIN events x ON x.run_id = t.run_id AND x.kind = 'exec_started' "
                    "WHERE t.status = 'running' AND NOT EXISTS (SELECT 1 FROM events r "
                    "WHERE r.run_id = t.run_id AND r.kind = 'exec_result')",
                )
            except Exception:  # the database is being created
                continue
            if running:  # the sandbox worker under that trial's actor
                workers = sandbox_processes(int(running[0][0]))
                pid = workers[0] if len(workers) == 1 else 0
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    assert proc.wait(timeout=600) == 0, proc.stdout.read() + proc.stderr.read()
    db = next(sessions.glob("*/session.db"))
    lost = _lost_runs(db)
    results = _results(db)
    expected = _results(next((tmp_path / "clean").glob("*/session.db")))
    held = (
        len(lost) == 1
        and lost[0][2].startswith("the sandbox worker (pid ")
        and "SIGKILL" in lost[0][2]
        and lost[0][3] == "abandoned"
        and _runs_of(db, lost[0][0]) == [(1, "abandoned"), (2, "done")]
        and results == expected
        and len(results) == 2
    )
    drill(
        "sandbox SIGKILLed mid-block (Ray actor)",
        f"{len(results)}/2 done, {len(lost)} re-run: {lost[0][2] if lost else '-'}",
        held,
    )
    assert len(lost) == 1 and "SIGKILL" in lost[0][2], lost
    assert lost[0][2].startswith("the sandbox worker (pid "), "the loss's reason, not Ray's trace"
    assert lost[0][3] == "abandoned" and lost[0][4].startswith("worker lost:")
    assert _runs_of(db, lost[0][0]) == [(1, "abandoned"), (2, "done")]
    assert results == expected and len(results) == 2
