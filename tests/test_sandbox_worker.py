"""Real worker processes: persistence, live streaming, seeding, and hostile programs contained."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from engine.errors import WorkerLost
from engine.sandbox.worker import SandboxError, SandboxWorker, SandboxWorkerLost

TOY = "engine.sandbox.toy:build_toy"


@pytest.fixture
async def worker():
    w = SandboxWorker(TOY, {"start": 0}, memory_bytes=2 * 2**30)
    await w.start()
    yield w
    await w.close()


async def test_variables_persist_across_blocks_and_summary_comes_back(worker) -> None:
    first = await worker.run_block("import numpy as np\nx = np.arange(3)\nbump(2)")
    assert first.ok and first.summary == {"count": 2, "success": False, "reward": 2 / 3}
    second = await worker.run_block("bump(int(x.sum()) - 2)\nprint(count())")
    assert second.ok and second.stdout == "3\n" and second.summary["success"] is True


async def test_stdout_streams_live_while_the_block_runs(worker) -> None:
    seen: list[tuple[float, str]] = []
    t0 = time.monotonic()
    result = await worker.run_block(
        "import time\nprint('first')\ntime.sleep(3)\nprint('second')",
        on_event=lambda m: (
            seen.append((time.monotonic() - t0, m.get("line", "")))
            if m["type"] == "stdout"
            else None
        ),
    )
    assert result.ok and result.stdout == "first\nsecond\n"
    assert [line for _, line in seen] == ["first", "second"]
    # Buffered output would arrive together at the end; streamed, the lines come a sleep apart
    # (load can only delay the first line, which narrows the gap by that delay, not seconds).
    assert seen[1][0] - seen[0][0] > 1.0, "the first line must arrive before the block ends"


async def test_status_updates_stream_from_the_environment(worker) -> None:
    statuses: list[dict] = []
    await worker.run_block(
        "bump(5)", on_event=lambda m: statuses.append(m) if m["type"] == "status" else None
    )
    assert statuses and statuses[-1]["status"]["count"] == 5


async def test_namespace_seeding_makes_library_skills_callable_from_each_other() -> None:
    library = (
        "def double(x):\n    return 2 * x\n\ndef quadruple(x):\n    return double(double(x))\n"
    )
    async with SandboxWorker(TOY, seed_code=library) as w:
        result = await w.run_block("print(quadruple(3))")
    assert result.ok and result.stdout == "12\n"


async def test_broken_library_seeding_is_a_clear_error() -> None:
    w = SandboxWorker(TOY, seed_code="import os\n")
    with pytest.raises(
        SandboxError, match="library seeding failed: PolicyViolation: line 1: import of 'os'"
    ):
        await w.start()
    assert not w.alive


def hostile(target: Path) -> dict[str, tuple[str, str]]:
    """Hostile blocks (code: (result field, expected text)); the file writers aim at ``target``."""
    t = repr(str(target))
    return {
        "import os": ("violation", "import of 'os'"),
        "import ctypes": ("violation", "import of 'ctypes'"),
        "__import__('os').system('echo pwned')": ("violation", "__import__"),
        "().__class__.__bases__[0].__subclasses__()": ("violation", "dunder attribute"),
        f"open({t}, 'w').write('x')": ("violation", "calling open()"),
        f"import numpy as np\nnp.save({t}, np.ones(2))": ("violation", "'save'"),
        f"import numpy as np\nf = getattr(np, 'sa' + 've')\nf({t}, np.ones(2))": (
            "violation",
            "getattr of 'save'",
        ),
        "import numpy as np\nf = getattr(np, 'lo' + 'adtxt')\nf('/etc/passwd')": (
            "violation",
            "getattr of 'loadtxt'",
        ),
        "import json\njson.load(1)": ("violation", "'load'"),
        "g = getattr\nb = g(g, '_' + '_self_' + '_')": ("violation", "getattr of"),
        "import sys\nsys.exit(0)": ("violation", "import of 'sys'"),
        "raise SystemExit(3)": ("exception", "SystemExit: 3"),
        "raise KeyboardInterrupt": ("exception", "KeyboardInterrupt"),
        "def f(n):\n    return f(n + 1)\nf(0)": ("exception", "RecursionError"),
        "x = [0] * (10 ** 10)": ("exception", "MemoryError"),
        "import numpy as np\nx = np.ones(10 ** 10)": ("exception", "MemoryError"),
        "print(undefined_name)": ("exception", "NameError"),
        "def f(:": ("exception", "SyntaxError"),
    }


async def test_hostile_programs_are_contained_with_a_reason_and_the_worker_survives(
    worker, tmp_path: Path
) -> None:
    target = tmp_path / "autocapx-pwned"
    for code, (field, expected) in hostile(target).items():
        result = await worker.run_block(code, timeout_s=20)
        assert not result.ok, code
        assert result.killed is None, (code, result.killed)
        assert expected in (getattr(result, field) or ""), (code, result)
        assert worker.alive
    after = await worker.run_block("print('still here', bump())")
    assert after.ok and after.stdout == "still here 1\n"
    assert not target.exists() and not target.with_name(target.name + ".npy").exists()
    assert list(tmp_path.iterdir()) == [], "nothing was written"


async def test_huge_output_is_capped(worker) -> None:
    result = await worker.run_block("for i in range(200000):\n    print('x' * 50)")
    assert result.ok
    assert len(result.stdout) < 70_000 and "output truncated" in result.stdout


async def test_infinite_loop_is_killed_at_the_wall_clock_limit_and_a_restart_works() -> None:
    w = SandboxWorker(TOY)
    await w.start()
    result = await w.run_block("while True:\n    pass", timeout_s=1.0)
    assert result.killed == "wall-clock limit of 1 s exceeded" and not w.alive
    await w.restart()
    again = await w.run_block("print(count())")
    assert again.ok and again.stdout == "0\n"  # fresh environment, state lost
    await w.close()


async def test_caught_violations_are_still_recorded(worker) -> None:
    code = "try:\n    getattr(bump, '_' + '_globals_' + '_')\nexcept Exception as e:\n    print('caught')"
    result = await worker.run_block(code)
    assert result.stdout == "caught\n"
    assert not result.ok and "getattr of" in result.violation


async def test_many_workers_side_by_side_stay_isolated() -> None:
    workers = [SandboxWorker(TOY, {"start": i}) for i in range(3)]
    await asyncio.gather(*(w.start() for w in workers))
    results = await asyncio.gather(*(w.run_block("print(bump())") for w in workers))
    assert [r.stdout for r in results] == ["1\n", "2\n", "3\n"]
    await asyncio.gather(*(w.close() for w in workers))


GUARD_SCRIPT = """
import os, socket, subprocess, sys
from engine.sandbox.guards import install_audit_hook, PolicyViolation
written, kept = sys.argv[1], sys.argv[2]  # a file to create, an existing file to delete
install_audit_hook()
attempts = {
    "fork": lambda: os.fork(),
    "socket": lambda: socket.create_connection(("127.0.0.1", 9)),
    "subprocess": lambda: subprocess.run(["true"]),
    "system": lambda: os.system("true"),
    "write": lambda: open(written, "w"),
    "read_etc": lambda: open("/etc/hostname"),
    "remove": lambda: os.remove(kept),
    "ctypes": lambda: __import__("ctypes").CDLL(None),
}
for name, attempt in attempts.items():
    try:
        attempt()
        print(name, "ALLOWED")
    except PolicyViolation as exc:
        print(name, "blocked:", exc)
"""


def test_the_audit_hook_blocks_processes_network_and_files_at_run_time(tmp_path: Path) -> None:
    """What the static policy cannot see (library code, computed names) still hits the hook."""
    import subprocess
    import sys

    written, kept = tmp_path / "autocapx-guard-test", tmp_path / "keep-me"
    kept.write_text("still here")
    out = subprocess.run(
        [sys.executable, "-c", GUARD_SCRIPT, str(written), str(kept)],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    lines = dict(line.split(" ", 1) if " " in line else (line, "") for line in out.splitlines())
    for name in ("fork", "socket", "subprocess", "system", "write", "read_etc", "remove", "ctypes"):
        assert lines.get(name, "").startswith("blocked:"), (name, out)
    assert not written.exists() and kept.read_text() == "still here"


# ---------------------------------------------------------------------------------------------
# The run-time layers on their own, the environment boundary, and the remaining limits.

ORDINARY = """
from __future__ import annotations
import numpy as np, math, json, random, heapq, itertools, statistics, time
from collections import deque, namedtuple
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import NamedTuple
from scipy.spatial.transform import Rotation as R
from scipy.optimize import minimize

@dataclass(frozen=True)
class Pose:
    xyz: tuple
    tags: list = field(default_factory=list)

class Mode(Enum):
    OPEN = 1

class Grasp(NamedTuple):
    score: float

@lru_cache
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

P = namedtuple("P", "x y")
q = R.from_euler("z", 90, degrees=True).as_quat()
res = minimize(lambda v: float(np.sum((v - 1.0) ** 2)), np.zeros(2))
print(Pose((1, 2, 3)), Mode.OPEN.name, Grasp(0.5).score, fib(20), P(1, 2).y, q.round(3).tolist())
print(round(float(res.x[0]), 3), json.dumps({"a": 1}), statistics.mean([1, 2, 3]), math.pi > 3)
print(np.linalg.norm([3, 4]), heapq.nsmallest(1, [3, 1]), list(itertools.islice(deque([1, 2]), 1)))
print(native_strlen("robot"), isinstance(np.zeros(1), np.ndarray), sorted(dir(np))[:1])
"""


async def test_ordinary_robot_code_runs_without_tripping_any_guard(worker) -> None:
    result = await worker.run_block(ORDINARY, timeout_s=60)
    assert result.ok, (result.violation, result.exception, result.stderr)
    assert "fib" not in result.stdout and "6765" in result.stdout and "5 True" in result.stdout


ESCAPE = "for c in ().__class__.__bases__[0].__subclasses__():\n    if c.__name__ == '_wrap_close':\n        g = c.__init__.__globals__\n"
"""Gets os's globals the classic way; only reachable with the static check switched off."""


def runtime_hostile(target: Path) -> dict[str, tuple[str, bool, str]]:
    """name: (code, static check on?, expected violation); file writers aim at ``target``."""
    t, t_npy = repr(str(target)), repr(str(target) + ".npy")
    return {
        "import os": ("import os", False, "import of 'os'"),
        "import ctypes": ("import ctypes", False, "import of 'ctypes'"),
        "__import__('os')": ("__import__('os').system('true')", False, "import of 'os'"),
        "os.system": (ESCAPE + "        g['system']('true')", False, "os.system"),
        "os.fork": (ESCAPE + "        g['fork']()", False, "os.fork"),
        "subprocess": (
            ESCAPE + "        g['__builtins__']['__import__']('subprocess').run(['true'])",
            False,
            "subprocess.Popen",
        ),
        "socket connect": (
            ESCAPE + "        s = g['__builtins__']['__import__']('socket')\n"
            "        s.create_connection(('127.0.0.1', 9))",
            False,
            "socket.",
        ),
        "file write": (
            ESCAPE + f"        g['__builtins__']['open']({t}, 'w')",
            False,
            "writing files is not allowed",
        ),
        "file read": (
            ESCAPE + "        g['__builtins__']['open']('/etc/hostname').read()",
            False,
            "reading files is not allowed",
        ),
        "ctypes via sys.modules": (
            ESCAPE + "        g['sys'].modules['ctypes'].CDLL(None).system(b'true')",
            False,
            "ctypes.dlopen",
        ),
        "ctypes via ndarray": (
            "import numpy as np\nnp.ones(2).ctypes._ctypes.CDLL(None)",
            False,
            "ctypes.dlopen",
        ),
        "type(lambda) trick": (
            "F = type(lambda: 0)\nF((lambda: 0).__code__, {})",
            False,
            "'__code__'",
        ),
        "frame builtins": (
            "g = (i for i in [1])\ng.gi_frame.f_builtins['open']",
            False,
            "gi_frame",
        ),
        "private numpy module": ("import numpy as np\nnp.lib._npyio_impl.os", False, "_npyio_impl"),
        "monkeypatch numpy": ("import numpy as np\nnp.linalg.norm = len", False, "read-only"),
        # with the static check on: what it cannot see
        "computed private name": (
            "import numpy as np\ngetattr(np.lib, '_npy' + 'io_impl')",
            True,
            "getattr of '_npyio_impl'",
        ),
        "computed ndarray.dump": (
            f"import numpy as np\ngetattr(np.ones(2), 'du' + 'mp')({t})",
            True,
            "writing files is not allowed",
        ),
        "numpy open_memmap write": (
            "import numpy as np\n"
            f"np.lib.format.open_memmap({t_npy}, mode='w+', dtype='f8', shape=(3,))",
            True,
            "writing files is not allowed",
        ),
        "numpy open_memmap read": (
            "import numpy as np\nnp.lib.format.open_memmap('/etc/hostname', mode='r')",
            True,
            "reading files is not allowed",
        ),
        "scipy beyond the allowed parts": ("import scipy.spatial\nscipy.io", True, "scipy.io"),
        "trial callback run by the API": (
            "class Evil:\n    def __int__(self):  # int() inside bump() calls this\n"
            "        import numpy as np\n        np.ones(1).ctypes._ctypes.CDLL(None)\n"
            "        return 1\nbump(Evil())",
            False,
            "ctypes.dlopen",
        ),
        "API writes on the trial's behalf": (
            f"save_log({t})",
            True,
            "writing files is not allowed",
        ),
    }


async def _contained(code: str, static: bool) -> tuple:
    w = SandboxWorker(TOY, memory_bytes=2 * 2**30)
    w.static_policy = static
    await w.start()
    try:
        result = await w.run_block(code, timeout_s=30)
        after = await w.run_block("print(bump())")
        return result, w.alive, after
    finally:
        await w.close()


async def test_runtime_guards_hold_on_their_own_and_each_attempt_gets_its_reason(
    tmp_path: Path,
) -> None:
    """The AST check switched off (or blind to computed names): restricted builtins, module
    proxies and the stack-aware audit hook still stop every attempt, the worker survives."""
    target = tmp_path / "autocapx-pwned"
    attempts = runtime_hostile(target)
    names = list(attempts)
    outcomes = await asyncio.gather(*(_contained(*attempts[n][:2]) for n in names))
    for name, (result, alive, after) in zip(names, outcomes, strict=True):
        expected = attempts[name][2]
        assert not result.ok and result.killed is None, (name, result)
        assert expected in (result.violation or ""), (name, result.violation, result.exception)
        assert alive and after.ok and after.stdout == "1\n", (name, after)
    assert not target.exists() and not target.with_name(target.name + ".npy").exists()
    assert list(tmp_path.iterdir()) == [], "nothing was written"


async def test_native_code_is_fine_inside_api_calls() -> None:
    async with SandboxWorker(TOY) as w:
        result = await w.run_block("print(native_strlen('gripper'))")
    assert result.ok and result.stdout == "7\n"


async def test_secrets_in_the_engine_environment_do_not_reach_the_worker(monkeypatch) -> None:
    monkeypatch.setenv("AUTOCAPX_TEST_SECRET_KEY", "sk-do-not-leak")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-do-not-leak")
    w = SandboxWorker(TOY)
    w.static_policy = False  # a full escape to os.environ, the worst case
    async with w:
        code = ESCAPE + "        print(sorted(k for k in g['environ'] if 'KEY' in k))"
        result = await w.run_block(code)
    assert result.ok and result.stdout == "[]\n", result


async def test_cpu_burn_is_ended_at_the_cpu_time_limit() -> None:
    async with SandboxWorker(TOY) as w:
        # The wall-clock limit is 30 s: the reason says which limit ended it, without timing,
        # and the CPU the block used is measured in CPU time (load cannot move it).
        result = await w.run_block("while True:\n    pass", timeout_s=30, cpu_s=1)
        assert result.killed == "CPU time limit of 1 s exceeded" and not w.alive
        assert w.block_cpu_s is not None and 1.0 <= w.block_cpu_s < 1.2, w.block_cpu_s
        assert result.stderr.startswith("CPUTimeLimitExceeded: the block used 1.")
        await w.restart()
        assert (await w.run_block("print(count())")).stdout == "0\n"


async def test_a_burn_that_holds_the_gil_is_ended_by_the_kernel_timer() -> None:
    """One long C call keeps the watchdog thread from running: the kernel's profiling timer
    ends the worker a moment past the budget, with the same reason."""
    async with SandboxWorker(TOY) as w:
        result = await w.run_block("sum(range(10 ** 14))", timeout_s=30, cpu_s=1)
        assert result.killed == "CPU time limit of 1 s exceeded" and not w.alive
        assert w.proc.returncode == -signal.SIGPROF and w.block_cpu_s is None
        assert "CPUTimeLimitExceeded" in result.stderr


async def test_each_block_gets_its_own_cpu_budget_and_reports_what_it_used(worker) -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6:\n    pass"
    for _ in range(3):  # 1.8 s in all, 0.6 s a block: no block is near its 1 s
        result = await worker.run_block(burn, cpu_s=1)
        assert result.ok and result.killed is None, result
        assert 0.6 <= worker.block_cpu_s < 0.9, worker.block_cpu_s
    await worker.run_block("print(1)")
    assert worker.block_cpu_s < 0.2


async def test_a_worker_killed_from_outside_is_lost_not_the_blocks_result() -> None:
    """SIGKILL (the OOM killer, an operator) or SIGTERM the parent did not send: the run is lost
    (infrastructure), whether it hits a running block or the worker between blocks."""
    async with SandboxWorker(TOY) as w:
        started = asyncio.Event()
        running = asyncio.create_task(
            w.run_block(
                "import time\nprint('go')\ntime.sleep(60)",
                on_event=lambda m: started.set() if m.get("line") == "go" else None,
            )
        )
        await asyncio.wait_for(started.wait(), 60)  # the block is running
        os.kill(w.proc.pid, signal.SIGKILL)
        with pytest.raises(SandboxWorkerLost, match="killed by SIGKILL from outside the trial"):
            await running
        assert isinstance(SandboxWorkerLost("x"), WorkerLost)
        assert not issubclass(SandboxWorkerLost, SandboxError), "the trial loop must not keep it"
        await w.restart()
        assert (await w.run_block("print(count())")).stdout == "0\n"
        os.kill(w.proc.pid, signal.SIGTERM)  # between blocks, while the LLM writes the next
        await w.proc.wait()
        with pytest.raises(SandboxWorkerLost, match="killed by SIGTERM"):
            await w.run_block("print(count())")
        await w.restart()
        os.kill(w.proc.pid, signal.SIGKILL)  # between blocks, not yet noticed by the parent
        with pytest.raises(SandboxWorkerLost, match="killed by SIGKILL"):
            await w.run_block("print(count())")


async def test_memory_bomb_that_touches_its_pages_is_stopped_and_the_worker_lives() -> None:
    bomb = "def grow():\n    hog = []\n    while True:\n        hog.append(bytearray(50 * 2**20))\ngrow()"
    async with SandboxWorker(TOY, memory_bytes=2**30) as w:
        result = await w.run_block(bomb, timeout_s=30)
        assert not result.ok and result.killed is None and "MemoryError" in result.exception
        after = await w.run_block("import numpy as np\nprint(np.ones(1000).sum())")
    assert after.ok and after.stdout == "1000.0\n"


async def test_code_too_deep_to_compile_is_an_error_not_a_dead_worker(worker) -> None:
    result = await worker.run_block("x = " + "+".join(["1"] * 100_000))
    assert not result.ok and result.killed is None and "RecursionError" in result.exception
    assert worker.alive


async def test_a_failing_event_listener_does_not_break_the_block(worker) -> None:
    def listener(message: dict) -> None:
        raise RuntimeError("listener bug")

    result = await worker.run_block("print('a')\nbump()", on_event=listener)
    assert result.ok and result.stdout == "a\n"
