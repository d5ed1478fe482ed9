"""Issue 17, item 4: ``skills list`` lists the promoted skills before the rejected ones (whatever
their quality), and ``skills show NAME`` refuses a name two skills share, naming both ids.

Both already held when the issue was filed (the reader orders promoted first; ``_show`` refuses
an ambiguous name); these tests keep them so. The session is tests/tui_fixture.py's, with two
more skills sharing one name: a rejected one of the best quality and a promoted one of the worst.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine.cli import main
from tests.tui_fixture import T0, build

SESSION = "skills-session"
EXTRA = [  # (id, name, status, quality)
    ("cccccccccccc", "grasp_pose", "rejected", 0.99),
    ("dddddddddddd", "grasp_pose", "promoted", 0.30),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    db = build(tmp_path / SESSION, running=False)
    conn = sqlite3.connect(db)
    with conn:
        for sid, name, status, quality in EXTRA:
            conn.execute(
                "INSERT INTO skills (id, name, source, signature, docstring, structural_hash, "
                "occurrences, success_rate, quality, status, round, first_seen) "
                "VALUES (?, ?, ?, '(R)', 'doc', ?, 1, 1.0, ?, ?, 0, ?)",
                (sid, name, f"def {name}(R):\n    return R\n", sid, quality, status, T0),
            )
        conn.execute(
            "INSERT INTO gate_results (skill_id, round, gate, passed, reason) "
            "VALUES ('cccccccccccc', 0, 'generality', 0, 'too specific')"
        )
    conn.close()
    return tmp_path


def cli(capsys, root: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["skills", *args, "--sessions-dir", str(root)])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_puts_promoted_before_rejected(root: Path, capsys) -> None:
    code, out, _ = cli(capsys, root, "list", SESSION)
    assert code == 0
    rows = [line.split()[:3] for line in out.splitlines()[1:]]
    assert [r[2] for r in rows] == ["promoted", "promoted", "rejected", "rejected"]
    assert [r[0] for r in rows] == ["aaaaaaaaaaaa", "dddddddddddd", "cccccccccccc", "bbbbbbbbbbbb"]
    code, out, _ = cli(capsys, root, "list", SESSION, "--json")
    listed = [json.loads(line) for line in out.splitlines()]
    assert [r["status"] for r in listed] == ["promoted", "promoted", "rejected", "rejected"]
    assert listed[2]["failed_gates"] == ["generality: too specific"]


def test_show_refuses_a_name_two_skills_share_and_lists_both_ids(root: Path, capsys) -> None:
    code, out, err = cli(capsys, root, "show", SESSION, "grasp_pose")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("autocapx: error: 2 skills are named ")
    assert "cccccccccccc" in err and "dddddddddddd" in err and "give the id" in err
    for sid, _, status, _ in EXTRA:  # either id shows its own skill
        code, out, _ = cli(capsys, root, "show", SESSION, sid)
        assert code == 0 and out.splitlines()[0] == f"grasp_pose ({sid}) · {status}"


def test_show_a_name_only_one_skill_has(root: Path, capsys) -> None:
    code, out, _ = cli(capsys, root, "show", SESSION, "quat_from_matrix")
    assert code == 0 and out.startswith("quat_from_matrix (aaaaaaaaaaaa) · promoted\n")
