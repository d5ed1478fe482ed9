"""Skill usage from calls counted at run time, checked against counts done by hand.

The replies are written out here, so every figure below is counted from this file, never from
what the implementation reports: a trial that defines its own look-alike of a library skill
calls its own function, a skill that raises is counted as a raised call, and a step redone
without the skill on the next block is a rewrite.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine.api.curated9 import CURATED9
from engine.cli import main

BLOCK0 = """\
import numpy as np

def rotation_matrix_to_quaternion(R):
    return np.array([1.0, 0.0, 0.0, 0.0])

for _ in range(2):
    rotation_matrix_to_quaternion(np.eye(3))
for v in ([1, 0, 0], [0, 2, 0], [0, 0, 3]):
    normalize_vector(np.array(v, dtype=float))
select_top_down_grasp(None, None, None)
print("never reached")
"""
BLOCK1 = "import numpy as np\nprint(normalize_vector(np.array([3.0, 4.0])))\n"
REPLIES = [BLOCK0, f"REGENERATE\n```python\n{BLOCK1}```", "FINISH"]
LIFT = (Path(__file__).resolve().parent.parent / "examples" / "cube_lift.py").read_text()


def _sweep(tmp_path: Path, backbones: dict[str, list[str]], conditions: str, n: int) -> Path:
    body = ""
    for name, replies in backbones.items():
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"text": r}) + "\n" for r in replies)
        )
        body += f'[[backbones]]\nname = "{name}"\nbackend = "replay"\nreplies = "{name}.jsonl"\n'
    config = tmp_path / "sweep.toml"
    config.write_text(
        f'[session]\nname = "u"\ntrials_per_condition = {n}\nconcurrency = 2\nquality = "fast"\n'
        + body
        + conditions
    )
    assert main(["run", str(config), "--sessions-dir", str(tmp_path / "s"), "--quiet"]) == 0
    return next((tmp_path / "s").glob("*/session.db"))


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("usage")
    return _sweep(tmp, {"rec": REPLIES}, '[[conditions]]\nname = "C9"\nlibrary = "curated9"\n', 2)


def test_usage_counts_real_calls_not_names(session: Path, capsys) -> None:
    root = str(session.parent.parent)
    assert main(["skills", "usage", session.parent.name, "--sessions-dir", root, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (arm,) = report["arms"]
    assert (arm["condition"], arm["backbone"], arm["round"], arm["trials"]) == ("C9", "rec", 0, 2)
    rows = {r["skill"]: r for r in arm["skills"]}
    # by hand, per trial: normalize_vector 3 + 1 calls; select_top_down_grasp 1 call that
    # raised, then dropped on the next block; the trial's own rotation_matrix_to_quaternion
    # was called twice, but it is not the library's function.
    assert rows["normalize_vector"]["calls"] == 8 and rows["normalize_vector"]["raised"] == 0
    grasp = rows["select_top_down_grasp"]
    assert (grasp["calls"], grasp["raised"], grasp["rewritten_on_retry"]) == (2, 2, 2)
    assert rows["rotation_matrix_to_quaternion"]["calls"] == 0
    assert arm["total_calls"] == 10
    assert arm["top1_share"] == 0.8 and arm["top3_share"] == 1.0 and arm["top4_share"] == 1.0
    dead = {fn.__name__ for fn in CURATED9} - {"normalize_vector", "select_top_down_grasp"}
    assert set(arm["dead"]) == dead and len(dead) == 7
    assert rows["normalize_vector"]["success_when_called"] == 0.0  # nothing lifted the cube


def test_the_calls_export_holds_every_counted_call(session: Path, capsys) -> None:
    root = str(session.parent.parent)
    capsys.readouterr()
    args = ["export", session.parent.name, "--what", "calls", "--format", "jsonl"]
    assert main(args + ["--sessions-dir", root]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    skill = {
        (r["trial_key"], r["block_idx"], r["name"]): (r["calls"], r["raised"])
        for r in rows
        if r["kind"] == "skill"
    }
    for key in {r["trial_key"] for r in rows}:
        assert skill[(key, 0, "normalize_vector")] == (3, 0)
        assert skill[(key, 0, "select_top_down_grasp")] == (1, 1)
        assert skill[(key, 1, "normalize_vector")] == (1, 0)
        assert (key, 0, "rotation_matrix_to_quaternion") not in skill
    api = [r for r in rows if r["kind"] == "api"]
    assert api == []  # these blocks never called the robot API


@pytest.mark.slow
def test_a_replay_sweep_at_0_and_100_percent_renders_its_report(tmp_path: Path, capsys) -> None:
    """The study's extremes: 10/10 and 0/10 (Wilson bounds at 1 and 0, no negative error bars)."""
    db = _sweep(
        tmp_path,
        {"lift": [LIFT, "FINISH"], "idle": ["print('idle')", "FINISH"]},
        '[[conditions]]\nname = "P21_a"\nlibrary = "none"\n',
        10,
    )
    conn = sqlite3.connect(db)
    got = dict(
        conn.execute(
            "SELECT backbone, SUM(final_success) FROM trials WHERE status = 'done' GROUP BY 1"
        ).fetchall()
    )
    assert got == {"lift": 10, "idle": 0}
    served = {r[0] for r in conn.execute("SELECT served_model FROM trials")}
    assert served == {"replay"}  # the model that answered is kept per trial
    conn.close()
    root = str(tmp_path / "s")
    assert main(["report", db.parent.name, "--sessions-dir", root]) == 0
    report = Path(capsys.readouterr().out.strip())
    text = report.read_text()
    assert "| P21_a | lift | 0 | none | 10 | 10 | 100.0% | [72.2%, 100.0%] |" in text
    assert "| P21_a | idle | 0 | none | 10 | 0 | 0.0% | [0.0%, 27.8%] |" in text
    assert (report.parent / "success.png").stat().st_size > 5000
