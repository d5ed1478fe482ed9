"""The fork server: workers forked from a clean zygote are separate, single-use processes with
the spawned worker's limits, losses and results; where fork is unsafe, workers are spawned.

The isolation tests of the sandbox (test_sandbox_worker, test_sandbox_policy,
test_sandbox_imports, the drills) run on the fork server by default; these check what is new.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from engine.sandbox import zygote
from engine.sandbox.worker import SandboxWorker, SandboxWorkerLost
from engine.world import ENV_FACTORY, WorldSpec

ROOT = Path(__file__).resolve().parent.parent
TOY = "engine.sandbox.toy:build_toy"


def _stat(pid: int) -> tuple[str, int]:
    """(process name, parent pid) from /proc."""
    text = Path(f"/proc/{pid}/stat").read_text()
    name = text.split("(", 1)[1].rsplit(")", 1)[0]
    return name, int(text.rsplit(")", 1)[1].split()[1])


@pytest.fixture(autouse=True)
def _fork_server(monkeypatch):
    monkeypatch.delenv(zygote.MODE_ENV, raising=False)
    if zygote.start_mode()[0] != "fork":
        pytest.skip("no fork server on this platform")


def test_start_mode_spawns_where_fork_is_unsafe_or_not_wanted(monkeypatch) -> None:
    assert zygote.start_mode({"MUJOCO_GL": "egl"})[0] == "fork"
    assert zygote.start_mode({"MUJOCO_GL": "osmesa"})[0] == "fork"
    mode, why = zygote.start_mode({"MUJOCO_GL": "glfw"})
    assert mode == "spawn" and "display" in why
    monkeypatch.setenv(zygote.MODE_ENV, "spawn")
    assert zygote.start_mode({"MUJOCO_GL": "egl"}) == ("spawn", f"{zygote.MODE_ENV}=spawn")
    monkeypatch.setenv(zygote.MODE_ENV, "sometimes")
    assert zygote.start_mode({"MUJOCO_GL": "egl"})[0] == "spawn"


async def test_each_worker_is_a_fresh_fork_that_shares_nothing_with_another() -> None:
    a, b = SandboxWorker(TOY), SandboxWorker(TOY)
    await a.start()
    try:
        ran = await a.run_block("bump(5)\nprint(count())")
        await b.start()
        assert (a.start_mode, b.start_mode) == ("fork", "fork")
        assert ran.ok and ran.stdout.strip() == "5"
        other = await b.run_block("print(count())")
        assert other.stdout.strip() == "0", "a worker saw another's state"
        server = zygote._CLIENTS[asyncio.get_running_loop()]
        for worker in (a, b):
            name, parent = _stat(worker.proc.pid)
            assert name == zygote.WORKER_NAME and parent == server.pid
        assert len({a.proc.pid, b.proc.pid, server.pid, os.getpid()}) == 4
        pid = a.proc.pid
        await a.close()
        assert a.proc.returncode == -signal.SIGKILL  # as the zygote reaped it
        assert not Path(f"/proc/{pid}").exists() or _stat(pid)[1] != server.pid
    finally:
        await a.close()
        await b.close()


async def test_trials_starting_together_share_one_fork_server() -> None:
    workers = [SandboxWorker(TOY) for _ in range(3)]
    try:
        await asyncio.gather(*(w.start() for w in workers))
        assert [w.start_mode for w in workers] == ["fork"] * 3
        assert len(zygote.zygote_pids()) == 1
        assert {_stat(w.proc.pid)[1] for w in workers} == set(zygote.zygote_pids())
    finally:
        for w in workers:
            await w.close()


async def test_a_forked_worker_killed_from_outside_is_a_loss_not_a_result() -> None:
    worker = SandboxWorker(TOY)
    await worker.start()
    try:
        os.kill(worker.proc.pid, signal.SIGKILL)  # between blocks, as an operator would
        with pytest.raises(SandboxWorkerLost, match="SIGKILL"):
            await _run_after_exit(worker)
    finally:
        await worker.close()


async def _run_after_exit(worker: SandboxWorker):
    await worker.proc.wait()
    return await worker.run_block("print(1)")


async def test_the_fork_server_lost_loses_its_workers_and_the_next_start_gets_a_new_one() -> None:
    worker = SandboxWorker(TOY)
    await worker.start()
    server = zygote._CLIENTS[asyncio.get_running_loop()]
    try:
        os.kill(server.pid, signal.SIGKILL)
        await worker.proc.wait()  # it dies with its zygote (PR_SET_PDEATHSIG)
        with pytest.raises(SandboxWorkerLost):
            await worker.run_block("print(1)")
    finally:
        await worker.close()
    again = SandboxWorker(TOY)
    async with again:
        assert again.start_mode == "fork"
        assert zygote._CLIENTS[asyncio.get_running_loop()].pid != server.pid
        assert (await again.run_block("print(2)")).stdout.strip() == "2"


async def test_on_the_fork_server_a_syntax_error_stays_a_syntax_error() -> None:
    async with SandboxWorker(TOY) as worker:
        assert worker.start_mode == "fork"
        result = await worker.run_block("def f(:\n    pass\n", name="<block 0>")
    assert result.exception.startswith("SyntaxError") and result.violation is None


async def test_spawn_asked_for_spawns(monkeypatch) -> None:
    monkeypatch.setenv(zygote.MODE_ENV, "spawn")
    async with SandboxWorker(TOY) as worker:
        assert worker.start_mode == "spawn"
        assert b"engine.sandbox.child" in Path(f"/proc/{worker.proc.pid}/cmdline").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("quality", ["fast", "full"])
async def test_a_program_gives_the_same_result_and_frames_forked_or_spawned(
    quality: str, monkeypatch
) -> None:
    """Determinism across the two paths: the reference lift, its result, its output and its
    frames before and after (rendered by a GL context made in the zygote, or the worker's own)
    agree, and it lifts the cube."""
    source = (ROOT / "examples" / "cube_lift.py").read_text()
    world = WorldSpec(seed=3, quality=quality, camera_size=128)
    runs = {}
    for mode in ("spawn", "fork"):
        monkeypatch.setenv(zygote.MODE_ENV, mode)
        async with SandboxWorker(ENV_FACTORY, world.to_kwargs()) as worker:
            assert worker.start_mode == mode
            r = await worker.run_block(source, name="<program>", frames=True)
        assert set(r.frames) == {"before", "after"}
        runs[mode] = (r.ok, r.stdout, r.stderr, r.exception, r.summary, r.status, r.frames)
    assert runs["spawn"][4]["success"] is True
    assert runs["fork"] == runs["spawn"]
