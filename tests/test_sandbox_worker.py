"""Real worker processes: persistence, live streaming, seeding, and hostile programs contained."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.sandbox.worker import SandboxError, SandboxWorker

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
        "import time\nprint('first')\ntime.sleep(0.6)\nprint('second')",
        on_event=lambda m: (
            seen.append((time.monotonic() - t0, m.get("line", "")))
            if m["type"] == "stdout"
            else None
        ),
    )
    assert result.ok and result.stdout == "first\nsecond\n"
    assert [line for _, line in seen] == ["first", "second"]
    assert seen[0][0] < 0.5 < seen[1][0], "the first line must arrive before the block ends"


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


HOSTILE = {
    "import os": ("violation", "import of 'os'"),
    "import ctypes": ("violation", "import of 'ctypes'"),
    "__import__('os').system('echo pwned')": ("violation", "__import__"),
    "().__class__.__bases__[0].__subclasses__()": ("violation", "dunder attribute"),
    "open('/tmp/autocapx-pwned', 'w').write('x')": ("violation", "calling open()"),
    "import numpy as np\nnp.save('/tmp/autocapx-pwned', np.ones(2))": ("violation", "'save'"),
    "import numpy as np\nf = getattr(np, 'sa' + 've')\nf('/tmp/autocapx-pwned', np.ones(2))": (
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


async def test_hostile_programs_are_contained_with_a_reason_and_the_worker_survives(worker) -> None:
    for code, (field, expected) in HOSTILE.items():
        result = await worker.run_block(code, timeout_s=20)
        assert not result.ok, code
        assert result.killed is None, (code, result.killed)
        assert expected in (getattr(result, field) or ""), (code, result)
        assert worker.alive
    after = await worker.run_block("print('still here', bump())")
    assert after.ok and after.stdout == "still here 1\n"
    import os

    assert not os.path.exists("/tmp/autocapx-pwned") and not os.path.exists(
        "/tmp/autocapx-pwned.npy"
    )


async def test_huge_output_is_capped(worker) -> None:
    result = await worker.run_block("for i in range(200000):\n    print('x' * 50)")
    assert result.ok
    assert len(result.stdout) < 70_000 and "output truncated" in result.stdout


async def test_infinite_loop_is_killed_at_the_wall_clock_limit_and_a_restart_works() -> None:
    w = SandboxWorker(TOY)
    await w.start()
    t0 = time.monotonic()
    result = await w.run_block("while True:\n    pass", timeout_s=1.0)
    assert time.monotonic() - t0 < 5
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
install_audit_hook()
attempts = {
    "fork": lambda: os.fork(),
    "socket": lambda: socket.create_connection(("127.0.0.1", 9)),
    "subprocess": lambda: subprocess.run(["true"]),
    "system": lambda: os.system("true"),
    "write": lambda: open("/tmp/autocapx-guard-test", "w"),
    "read_etc": lambda: open("/etc/hostname"),
    "remove": lambda: os.remove("/tmp/nothing-here"),
    "ctypes": lambda: __import__("ctypes").CDLL(None),
}
for name, attempt in attempts.items():
    try:
        attempt()
        print(name, "ALLOWED")
    except PolicyViolation as exc:
        print(name, "blocked:", exc)
"""


def test_the_audit_hook_blocks_processes_network_and_files_at_run_time() -> None:
    """What the static policy cannot see (library code, computed names) still hits the hook."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", GUARD_SCRIPT], capture_output=True, text=True, timeout=60
    ).stdout
    lines = dict(line.split(" ", 1) if " " in line else (line, "") for line in out.splitlines())
    for name in ("fork", "socket", "subprocess", "system", "write", "read_etc", "remove", "ctypes"):
        assert lines.get(name, "").startswith("blocked:"), (name, out)
