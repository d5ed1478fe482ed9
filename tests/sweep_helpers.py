"""Small helpers shared by the session/sweep tests."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_config(
    path: Path,
    *,
    n: int = 3,
    concurrency: int = 2,
    latency: float = 0.0,
    name: str = "t",
    session_extra: str = "",
    backbone: str = "",
) -> Path:
    """Two conditions (P21_a, curated9) x one backbone: the synthetic coder at ``latency``
    s/token, or the ``backbone`` given as the body of a [[backbones]] table."""
    backbone = backbone or (
        f'name = "syn"\nbackend = "synthetic"\nprofile = "weak"\nlatency_s_per_token = {latency}'
    )
    path.write_text(
        f"""
[session]
name = "{name}"
trials_per_condition = {n}
concurrency = {concurrency}
quality = "fast"
{session_extra}

[[backbones]]
{backbone}

[[conditions]]
name = "P21_a"
library = "none"

[[conditions]]
name = "curated9"
library = "curated9"
"""
    )
    return path


def autocapx(*args: str, sessions: Path) -> subprocess.Popen:
    env = dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *args, "--sessions-dir", str(sessions), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def done_rows(db: Path) -> dict[str, tuple]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        rows = conn.execute(
            "SELECT trial_key, run_id, final_success, any_success, reward, n_blocks, regenerations, "
            "end_reason, prompt_tokens, completion_tokens, finished_at FROM trials WHERE status = 'done'"
        ).fetchall()
    finally:
        conn.close()
    return {r[0]: r[1:] for r in rows}


def query(db: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of one read-only query on a session database."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def new_session(path: Path, *, synthetic: bool = True):
    """A SessionWriter on a fresh session database at ``path`` (for store-level tests)."""
    from engine.store.writer import SessionWriter

    writer = SessionWriter(path)
    writer.create_session(
        "s",
        task="cube_lift",
        config={},
        config_hash="h",
        code_version="test",
        synthetic=synthetic,
        total_trials=1,
    )
    return writer


def begin_run(writer, key: str, *, index: int = 0, condition: str = "P21_a", **kw) -> int:
    """A run row for trial ``key`` (backbone, backend and model default to a synthetic one)."""
    return writer.begin_run(
        trial_key=key,
        trial_index=index,
        condition=condition,
        backbone=kw.get("backbone", "syn"),
        seed=0,
        backend=kw.get("backend", "synthetic"),
        model=kw.get("model", "m"),
        synthetic=kw.get("backend", "synthetic") == "synthetic",
        library_version="none",
    )


def trial_spec(trial_id: str = "t", **kw):
    """A TrialSpec from flat keyword arguments: the WorldSpec fields go into its world."""
    from dataclasses import fields

    from engine.trial.spec import TrialSpec
    from engine.world import WorldSpec

    world_keys = {f.name for f in fields(WorldSpec)}
    world = WorldSpec(**{k: kw.pop(k) for k in list(kw) if k in world_keys})
    return TrialSpec(trial_id, world=world, **kw)
