"""A session gives the same per-trial results at any concurrency, re-mining included."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from tests.sweep_helpers import query

CONFIG = """\
[session]
name = "det"
trials_per_condition = 4
concurrency = {concurrency}
quality = "fast"

[[backbones]]
name = "syn"
backend = "synthetic"
profile = "weak"

[[conditions]]
name = "P21_a"
library = "none"

[[conditions]]
name = "C1"
library = "C1"

[skills]
pool = "self"
mine_every = 4
min_occurrences = 1
min_success_rate = 0.0
require_docstring = false
"""
COLUMNS = (
    "trial_key, trial_index, final_success, any_success, reward, n_blocks, regenerations, "
    "end_reason, prompt_tokens, completion_tokens, library_version"
)


def _run(tmp_path: Path, concurrency: int) -> tuple[list[tuple], list[tuple]]:
    config = tmp_path / f"c{concurrency}.toml"
    config.write_text(CONFIG.format(concurrency=concurrency))
    sessions = tmp_path / f"s{concurrency}"
    assert main(["run", str(config), "--sessions-dir", str(sessions), "--quiet"]) == 0
    db = next(sessions.glob("*/session.db"))
    trials = query(db, f"SELECT {COLUMNS} FROM trials WHERE status = 'done' ORDER BY trial_key")
    replies = query(
        db,
        "SELECT b.trial_key, b.idx, b.reply FROM blocks b JOIN trials t ON t.run_id = b.run_id "
        "WHERE t.status = 'done' ORDER BY 1, 2",
    )
    return trials, replies


@pytest.mark.slow
def test_a_self_mining_session_is_the_same_at_concurrency_1_and_3(tmp_path: Path) -> None:
    one, three = _run(tmp_path, 1), _run(tmp_path, 3)
    assert one[0] == three[0], "same trials, same outcomes, same library versions"
    assert one[1] == three[1], "same replies, block by block"
    versions = {row[1]: row[-1] for row in one[0] if row[0].startswith("r0/C1/")}
    assert versions[1] == "none" and versions[3] == "none"  # plan indices 0-3: nothing mined yet
    assert versions[5].startswith("C1-") and versions[7] == versions[5]  # mined after index 3
