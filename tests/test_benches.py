"""Every benchmark runs in its quick mode, so none rots between the times someone measures.

The figures are not judged here (speed is measured, not asserted); a bench passes if it runs
to the end and prints the ratios and goals it exists to print.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHES = sorted(p.name for p in (ROOT / "bench").glob("*_bench.py"))
EXPECTED = {
    "sim_bench.py": ["ratio", "real-time factor", "per frame"],
    "skills_bench.py": ["mine + gate + build"],
    "store_bench.py": ["events/s", "resume scan", "of c/L"],
    "trial_bench.py": ["engine overhead", "worker start-up"],
    "tui_bench.py": ["keypress -> repaint (pane switch)", "opening a trial", "memory over"],
    "ray_bench.py": ["ray/local", "Estimate for N nodes"],
}


def test_every_bench_is_covered() -> None:
    assert BENCHES and set(BENCHES) == set(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("bench", BENCHES)
def test_bench_runs_in_quick_mode(bench: str) -> None:
    if bench == "ray_bench.py":
        pytest.importorskip("ray")
    env = dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / bench), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for phrase in EXPECTED[bench]:
        assert phrase in proc.stdout, f"{bench} no longer prints {phrase!r}:\n{proc.stdout}"
