"""A sweep's processes yield the CPU to interactive work across sessions too: under autogroup
scheduling a nice value only ranks a process within its session's group, so a trial worker
(its own session) lowers its group as well, and a process in someone else's session does not
touch that session's group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    not Path("/proc/self/autogroup").exists(), reason="no autogroup scheduling on this kernel"
)


def _python(code: str, *, own_session: bool) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        start_new_session=own_session,
        timeout=120,
    ).stdout.strip()


@pytest.fixture(scope="module", autouse=True)
def _may_lower_groups() -> None:
    """Lowering is best effort: skip where this kernel or container refuses the write."""
    probe = (
        "import os; os.nice(10)\n"
        "try:\n    open('/proc/self/autogroup', 'w').write('10'); print('ok')\n"
        "except OSError as exc:\n    print('refused', exc.errno)\n"
    )
    answer = _python(probe, own_session=True)
    if answer != "ok":
        pytest.skip(f"this system refuses to lower an autogroup ({answer})")


def _group_nice(pid: str = "self") -> str:
    """The group's nice as the kernel prints it, or "none" in the root group (empty file)."""
    fields = Path(f"/proc/{pid}/autogroup").read_text().split()
    return fields[-1] if fields else "none"


LOWER = (
    "import os; os.nice(10)\n"  # on top of whatever this test runs at (capped at 19)
    "from engine.cpu_priority import lower_session_group\n"
    "changed = lower_session_group()\n"
    "group = (open('/proc/self/autogroup').read().split() or ['none'])[-1]\n"
    "print(changed, group, os.getpriority(os.PRIO_PROCESS, 0))\n"
)


def test_a_session_leader_lowers_its_group_to_its_own_nice() -> None:
    changed, group, own = _python(LOWER, own_session=True).split()
    assert changed == "True" and int(own) >= 10
    assert group == own


def test_a_process_in_another_session_leaves_that_sessions_group_alone() -> None:
    ours = _group_nice()
    changed, group, _ = _python(LOWER, own_session=False).split()
    assert (changed, group) == ("False", ours)
    assert _group_nice() == ours


def test_the_root_group_reads_as_no_group_of_its_own(tmp_path: Path) -> None:
    """A process in the kernel's root group (a CI runner's, a container init's children) reads
    an empty file: that is no group to lower, not an error."""
    from engine.cpu_priority import autogroup_nice

    root, own = tmp_path / "root", tmp_path / "own"
    root.write_text("")
    own.write_text("/autogroup-15 nice 7\n")
    assert autogroup_nice(str(root)) is None
    assert autogroup_nice(str(own)) == 7


WORKER_GROUP = """
import asyncio, os, sys
os.environ["AUTOCAPX_WORKER_START"] = sys.argv[1]
os.nice(10)  # as a runner does
from engine.sandbox.worker import SandboxWorker

async def main():
    async with SandboxWorker("engine.sandbox.toy:build_toy") as worker:
        pid = worker.proc.pid
        group = open(f"/proc/{pid}/autogroup").read().split()[-1]
        print(worker.start_mode, os.getsid(pid) == pid, group, os.getpriority(os.PRIO_PROCESS, pid))

asyncio.run(main())
"""


@pytest.mark.parametrize("mode", ["fork", "spawn"])
def test_a_niced_runners_trial_worker_has_its_own_group_lowered_as_much(mode: str) -> None:
    from engine.sandbox import zygote

    if mode == "fork" and zygote.start_mode({"MUJOCO_GL": "egl"})[0] != "fork":
        pytest.skip("no fork server on this platform")
    out = subprocess.run(
        [sys.executable, "-c", WORKER_GROUP, mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    started, own_session, group_nice, worker_nice = out.stdout.split()
    assert started == mode and own_session == "True"
    assert int(worker_nice) >= 10, "the worker inherits the runner's nice"
    assert group_nice == worker_nice, "and its session's group runs at it too"
