"""Issue 17, items 4 and 5: ``sim run`` shows its progress on a terminal (and nowhere else),
seeds out of range end in one line before a worker starts, counts of 1 read "1 block", and
``.ci/run`` refuses a Python older than 3.11 in one line before doing anything."""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.sandbox.result import ExecResult
from engine.sandbox.worker import SandboxWorker
from engine.sweep.plan import TrialPlan
from engine.sweep.progress import HeadlessProgress
from engine.text import plural, plural_word
from engine.trial.records import BlockRecord, TrialRecord

ROOT = Path(__file__).resolve().parent.parent
LIFT = ["sim", "run", "examples/cube_lift.py", "--task", "cube_lift", "--seed", "3"]
LIFT += ["--quality", "fast"]
CLEAR = "\r\x1b[K"


# ------------------------------------------------------------------------------ helpers
def run_on_a_terminal(args: list[str], timeout_s: float = 120.0) -> tuple[int, list, str]:
    """``python -m engine ARGS`` with its stdout on a pseudo-terminal (120 columns) and stderr
    in a pipe: (exit status, [(text, still running?) per chunk read], stderr). Line ends are
    the terminal's (``\\r\\n``)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    chunks: list[tuple[str, bool]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append((data.decode(errors="replace"), proc.poll() is None))
        else:
            proc.kill()
            pytest.fail(f"autocapx {' '.join(args)} did not end in {timeout_s:g} s")
        code = proc.wait(timeout=30)
        return code, chunks, proc.stderr.read().decode()
    finally:
        os.close(master)
        proc.stderr.close()


def run_in_a_pipe(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def result_lines(result: dict) -> list[str]:
    """What ``sim run`` printed before progress existed, from its ``--json`` result (the wall
    time left as a pattern): the program's stdout, then the verdict line."""
    verdict = "SUCCESS" if result["success"] else "FAILED"
    return [
        *result["stdout"].splitlines(),
        f"{result['task']} seed {result['seed']}: {verdict}  reward {result['reward']:.3f}  "
        f"cube height {result['cube_height']:.3f} m  steps {result['steps']} "
        f"({result['sim_time_s']:.1f} s simulated)  wall <WALL> s",
    ]


def without_wall_time(lines: list[str]) -> list[str]:
    return [re.sub(r"wall \d+\.\d\d s$", "wall <WALL> s", line) for line in lines]


# ------------------------------------------------------------------ sim run progress
def test_sim_run_on_a_terminal_shows_its_progress_while_it_runs_and_clears_it() -> None:
    code, chunks, stderr = run_on_a_terminal(LIFT)
    assert code == 0, stderr
    out = "".join(text for text, _ in chunks)
    verdict = out.index("cube_lift seed 3: SUCCESS")
    progress, final = out[:verdict], out[verdict:]
    assert progress.startswith(f"{CLEAR}  building the scene…"), out[:200]
    assert "gripper open" in progress and " cm · " in progress
    assert re.search(r"  [a-z ]+ · step \d+ · gripper (open|closed) · cube \d+\.\d cm · \d+ s", out)
    before = [text for text, running in chunks if running]
    assert "building the scene" in "".join(before), "the progress shows while it runs"
    assert "· step " in "".join(before)
    # cleared before the result: what follows the last progress line is what a pipe gets
    last = progress.rindex(CLEAR)
    tail = progress[last + len(CLEAR) :] + final
    lines = tail.replace("\r\n", "\n").splitlines()
    assert lines[-4:-1] == ["12 grasp candidates", lines[-3], "lifted"]
    assert "\r" not in "".join(lines) and "\x1b" not in "".join(lines)
    drawn = progress.split(CLEAR)[1:-1]  # each drawing of the line (the last one: cleared)
    assert drawn and all("\n" not in line and len(line) < 120 for line in drawn), "never wraps"


def test_sim_run_json_on_a_terminal_is_pure_json() -> None:
    code, chunks, stderr = run_on_a_terminal([*LIFT, "--json"])
    assert code == 0, stderr
    out = "".join(text for text, _ in chunks)
    assert out.endswith("\r\n") and out.count("\r\n") == 1
    assert "\x1b" not in out and "building the scene" not in out
    result = json.loads(out)
    assert result["success"] is True and result["seed"] == 3


def test_sim_run_into_a_pipe_prints_what_it_printed_before() -> None:
    human, machine = run_in_a_pipe(LIFT), run_in_a_pipe([*LIFT, "--json"])
    assert human.returncode == machine.returncode == 0, human.stderr + machine.stderr
    assert "\r" not in human.stdout and "\x1b" not in human.stdout
    assert "building the scene" not in human.stdout + human.stderr
    assert human.stderr == ""
    expected = result_lines(json.loads(machine.stdout))
    assert without_wall_time(human.stdout.splitlines()) == expected


# ---------------------------------------------------------------------------- seeds
@pytest.fixture
def no_worker(monkeypatch):
    """A sandbox worker that fails the test if anything starts one."""

    async def start(self):  # pragma: no cover - what the tests exist to catch
        pytest.fail("a sandbox worker started for a seed out of range")

    monkeypatch.setattr(SandboxWorker, "start", start)


@pytest.mark.parametrize("seed", ["-1", str(2**31), str(2**32), "-2147483648"])
@pytest.mark.parametrize(
    "command",
    [["sim", "run", str(ROOT / "examples" / "cube_lift.py")], ["trial", "--quality", "fast"]],
    ids=["sim-run", "trial"],
)
def test_a_seed_out_of_range_is_one_line_before_any_worker(
    command, seed, no_worker, capsys
) -> None:
    code = main([*command, "--seed", seed])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == f"autocapx: error: --seed must be between 0 and 2147483647, got {seed}\n"


def test_the_seed_range_is_the_sweep_configs() -> None:
    from engine.commands.sim import SEED_MAX, SEED_MIN, check_seed
    from engine.config import _RANGES

    assert (SEED_MIN, SEED_MAX) == (_RANGES["session.seed"].low, _RANGES["session.seed"].high)
    check_seed(0)
    check_seed(2**31 - 1)


# -------------------------------------------------------------------------- plurals
def test_plural() -> None:
    assert plural(1, "block") == "1 block"
    assert plural(0, "block") == "0 blocks" and plural(2, "trial") == "2 trials"
    assert plural(1, "child", "children") == "1 child"
    assert plural(3, "child", "children") == "3 children"
    assert plural_word(1, "trial") == "trial" and plural_word(5, "trial") == "trials"


def one_block_record() -> TrialRecord:
    block = BlockRecord(
        index=0,
        decision="initial",
        prompt="p",
        reply="r",
        code="print('hi')",
        result=ExecResult(ok=True, stdout="hi\n", summary={"success": True, "reward": 1.0}),
    )
    record = TrialRecord("t", "cube_lift", 3, "synthetic", "synthetic-strong", True)
    record.blocks = [block, BlockRecord(index=1, decision="finish", prompt="p", reply="FINISH")]
    record.final_success, record.end_reason, record.wall_time_s = True, "finish", 1.25
    return record


def test_headless_progress_of_a_one_block_one_trial_sweep() -> None:
    stream = io.StringIO()  # not a terminal: one line per trial
    progress = HeadlessProgress(1, stream=stream)
    plan = TrialPlan(key="r0/P21_a/syn/0000", index=0, condition="P21_a", backbone="syn", seed=3)
    record = one_block_record()
    assert record.n_blocks == 1
    progress(plan, None, "started")
    progress(plan, record, "done")
    progress.close("finished")
    assert stream.getvalue().splitlines() == [
        "[1/1] r0/P21_a/syn/0000 seed 3: SUCCESS (1 block, finish, 1.2 s)",
        "sweep finished: 1/1 trial done, 1 succeeded in this run",
    ]
    two = io.StringIO()
    progress = HeadlessProgress(2, stream=two)
    progress(plan, None, "started")
    progress.close("halted")
    assert two.getvalue() == "sweep halted: 0/2 trials done, 0 succeeded in this run\n"


def test_trial_summary_of_one_block_says_1_block(capsys) -> None:
    code = main(["trial", "--backend", "synthetic", "--seed", "3", "--quality", "fast"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = out.splitlines()[-1]
    assert summary.startswith("SUCCESS on the final attempt · 1 block · 0 regenerations · ")
    assert re.search(r" · \d+ tokens · \d+\.\d s$", summary), summary
    assert "1 blocks" not in out


# ---------------------------------------------------------------------- .ci/run's check
def fake_bin(tmp_path: Path, python_version: str | None) -> tuple[Path, Path]:
    """A directory for the front of PATH: a python3 printing ``python_version`` (none if
    None), and make, apt-get, tmux and ldconfig that only note that they ran."""
    bin_dir, ran = tmp_path / "bin", tmp_path / "ran"
    bin_dir.mkdir()
    scripts = {name: f'echo {name} >> "{ran}"' for name in ("make", "apt-get", "tmux")}
    scripts["ldconfig"] = f'echo ldconfig >> "{ran}"; echo libEGL.so.1 libEGL_mesa.so.0'
    if python_version is not None:
        scripts["python3"] = f'echo "Python {python_version}"'
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return bin_dir, ran


def run_script(script: str, bin_dir: Path, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path if path is not None else f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(
        ["/bin/bash", str(ROOT / ".ci" / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("version", ["3.9.7", "3.10.12", "2.7.18"])
def test_ci_check_refuses_an_old_python_in_one_line(tmp_path: Path, version: str) -> None:
    bin_dir, _ = fake_bin(tmp_path, version)
    done = run_script("check-python", bin_dir)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr == f"autocapx needs Python >= 3.11; this machine has {version}\n"


@pytest.mark.parametrize("version", ["3.11.0", "3.12.3", "3.13.0rc1", "4.0.0"])
def test_ci_check_accepts_a_new_enough_python(tmp_path: Path, version: str) -> None:
    bin_dir, _ = fake_bin(tmp_path, version)
    done = run_script("check-python", bin_dir)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_ci_check_without_python3(tmp_path: Path) -> None:
    bin_dir, _ = fake_bin(tmp_path, None)
    done = run_script("check-python", bin_dir, path=str(bin_dir))
    assert done.returncode != 0
    assert done.stderr == "autocapx needs Python >= 3.11; this machine has no python3 on PATH\n"


def test_ci_check_passes_on_this_machine() -> None:
    done = subprocess.run([str(ROOT / ".ci" / "check-python")], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_ci_run_checks_python_before_anything_else(tmp_path: Path) -> None:
    bin_dir, ran = fake_bin(tmp_path, "3.9.7")
    done = run_script("run", bin_dir)
    assert done.returncode != 0
    assert done.stdout + done.stderr == "autocapx needs Python >= 3.11; this machine has 3.9.7\n"
    assert not ran.exists(), f"ran before the check: {ran.read_text().split()}"
