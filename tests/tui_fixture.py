"""A small, fully deterministic session database for console tests and snapshots."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from engine.sandbox.result import ExecResult
from engine.store.writer import SessionWriter
from engine.trial.records import BlockRecord

T0 = 1_790_000_000.0
CODE = 'import numpy as np\n\n\ndef quat_from_matrix(R):\n    """Rotation matrix to [w, x, y, z]."""\n    return np.array([1.0, 0.0, 0.0, 0.0])\n\n\nobs = get_observation()\nprint("lifted")\n'


def build(directory: Path, *, running: bool = True) -> Path:
    """sessions/fixture-session/session.db with 4 done trials, 1 running, skills and events."""
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "session.db"
    writer = SessionWriter(db)
    config = {"session": {"trials_per_condition": 3}, "_rounds": 1}
    writer.create_session(
        "fixture-session",
        task="cube_lift",
        config=config,
        config_hash="f",
        code_version="0.1.0",
        synthetic=True,
        total_trials=6,
    )
    conn = writer.conn
    trials = [
        ("r0/P21_a/syn/0000", "P21_a", 0, 1, "done"),
        ("r0/C2/syn/0000", "C2", 0, 1, "done"),
        ("r0/P21_a/syn/0001", "P21_a", 1, 0, "done"),
        ("r0/C2/syn/0001", "C2", 1, 1, "done"),
        ("r0/P21_a/syn/0002", "P21_a", 2, None, "running"),
    ]
    with conn:
        for i, (key, cond, seed, ok, status) in enumerate(trials):
            conn.execute(
                "INSERT INTO trials (run_id, trial_key, trial_index, condition, backbone, seed, status, backend, model, synthetic, "
                "library_version, final_success, any_success, code_ran_clean, reward, n_blocks, regenerations, finishes, end_reason, "
                "prompt_tokens, completion_tokens, cost_usd, wall_time_s, started_at, finished_at) "
                "VALUES (?, ?, ?, ?, 'syn', ?, ?, 'synthetic', 'synthetic-strong', 1, 'none', ?, ?, 1, ?, 2, 1, 1, ?, 1000, 200, 0, 3.5, ?, ?)",
                (
                    i + 1,
                    key,
                    i,
                    cond,
                    seed,
                    status,
                    ok,
                    ok,
                    1.0 if ok else 0.5,
                    "finish" if status == "done" else None,
                    T0 + i,
                    T0 + i + 3 if status == "done" else None,
                ),
            )
        conn.execute(
            "UPDATE session SET created_at = ?, updated_at = ?, status = ?",
            (T0, T0 + 10, "running" if running else "finished"),
        )
        for run_id in (1, 2, 3, 4):
            for idx, decision in ((0, "initial"), (1, "regenerate")):
                block = BlockRecord(
                    index=idx,
                    decision=decision,
                    prompt="p",
                    reply="r",
                    code=CODE,
                    result=ExecResult(
                        ok=True,
                        stdout="lifted\n",
                        summary={"success": idx == 1, "reward": 1.0 if idx else 0.5},
                    ),
                )
                writer.add_block(run_id, trials[run_id - 1][0], block)
        skills = [
            (
                "aaaaaaaaaaaa",
                "quat_from_matrix",
                "promoted",
                0.91,
                [("compiles", 1, "parses and compiles"), ("docstring", 1, "has a docstring")],
            ),
            (
                "bbbbbbbbbbbb",
                "lift_red_cube",
                "rejected",
                0.40,
                [("generality", 0, "name 'lift_red_cube' is task-specific (lift, red, cube)")],
            ),
        ]
        for sid, name, status, quality, gates in skills:
            conn.execute(
                "INSERT INTO skills (id, name, source, signature, docstring, structural_hash, occurrences, success_rate, quality, status, round, first_seen) "
                "VALUES (?, ?, ?, '(R)', 'doc', 'h', 3, 0.67, ?, ?, 0, ?)",
                (sid, name, f"def {name}(R):\n    return R\n", quality, status, T0),
            )
            conn.executemany(
                "INSERT INTO gate_results (skill_id, round, gate, passed, reason) VALUES (?, 0, ?, ?, ?)",
                [(sid, g, p, r) for g, p, r in gates],
            )
    key = "r0/P21_a/syn/0002"
    events = [
        (
            "trial_started",
            {
                "condition": "P21_a",
                "backend": "synthetic",
                "seed": 2,
                "model": "synthetic-strong",
                "synthetic": True,
            },
        ),
        ("decision", {"block": 0, "decision": "initial"}),
        ("llm_delta", {"block": 0, "text": CODE}),
        ("code_ready", {"block": 0, "code": CODE}),
        ("exec_started", {"block": 0}),
        ("stdout", {"block": 0, "line": "12 grasp candidates"}),
        (
            "sim_status",
            {"block": 0, "phase": "moving", "gripper": "open", "cube_height": 0.021, "step": 40},
        ),
    ]
    with conn:
        conn.executemany(
            "INSERT INTO events (at, kind, trial_key, run_id, data_json) VALUES (?, ?, ?, 5, ?)",
            [(T0 + i, kind, key, json.dumps(data)) for i, (kind, data) in enumerate(events)],
        )
    writer.close()
    return db


def commands(db: Path) -> list[tuple[str, dict, str]]:
    conn = sqlite3.connect(db)
    try:
        return [
            (a, json.loads(j), w)
            for a, j, w in conn.execute("SELECT action, args_json, who FROM commands ORDER BY id")
        ]
    finally:
        conn.close()


def command_ids(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM commands ORDER BY id")]
    finally:
        conn.close()


def add_trials(db: Path, count: int, start_run: int = 100) -> None:
    """``count`` more done trial runs (keys r0/<cond>/big/<i:05d>, seed i): a large session
    for the trials pane and its benchmark, without running anything."""
    conn = sqlite3.connect(db)
    rows = [
        (
            start_run + i,
            f"r0/{('P21_a', 'C2')[i % 2]}/big/{i:05d}",
            10 + i,
            ("P21_a", "C2")[i % 2],
            i,
            int(i % 3 != 0),
            int(i % 3 != 0),
            1 + i % 4,
            "finish" if i % 5 else "max_blocks",
            T0 + i,
            T0 + i + 2.5,
        )
        for i in range(count)
    ]
    with conn:
        conn.executemany(
            "INSERT INTO trials (run_id, trial_key, trial_index, condition, backbone, seed, status, backend, model, "
            "synthetic, library_version, final_success, any_success, code_ran_clean, reward, n_blocks, regenerations, "
            "finishes, end_reason, prompt_tokens, completion_tokens, cost_usd, wall_time_s, started_at, finished_at) "
            "VALUES (?, ?, ?, ?, 'big', ?, 'done', 'synthetic', 'synthetic-strong', 1, 'none', ?, ?, 1, 1.0, ?, 0, 1, ?, "
            "100, 20, 0, 2.5, ?, ?)",
            rows,
        )
    conn.close()
