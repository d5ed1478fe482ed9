"""End to end on the synthetic coder: evolve rounds, mined skills in later prompts and called,
gate reasons for every rejection, and approve/veto taking effect in the next trial."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from engine.cli import main
from engine.config import load_config
from engine.skills.usage import usage
from engine.store.reader import SessionReader
from engine.sweep.session import create_session, execute_session

EVOLVE = """
[session]
name = "evo"
trials_per_condition = 6
concurrency = 2
quality = "fast"

[[backbones]]
name = "syn"
backend = "synthetic"
profile = "strong"

[[conditions]]
name = "P21_a"
library = "none"

[[conditions]]
name = "C2"
library = "C2"

[skills]
min_occurrences = 2
quality_min = 0.5
"""


@pytest.fixture(scope="module")
def evolved(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("evolve")
    config = tmp / "evolve.toml"
    config.write_text(EVOLVE)
    assert (
        main(["evolve", str(config), "--rounds", "2", "--sessions-dir", str(tmp / "s"), "--quiet"])
        == 0
    )
    return next((tmp / "s").glob("*/session.db"))


@pytest.mark.slow
def test_two_rounds_build_a_library_that_later_trials_see_and_call(evolved: Path) -> None:
    conn = sqlite3.connect(evolved)
    rounds = conn.execute(
        "SELECT round, condition, library_version, COUNT(*) FROM trials WHERE status = 'done' GROUP BY 1, 2"
    ).fetchall()
    by = {(r, c): (v, n) for r, c, v, n in rounds}
    assert by[(0, "C2")][0] == "none", "round 0 has nothing mined yet"
    assert by[(1, "C2")][0].startswith("C2-") and by[(1, "C2")][1] == 6
    assert by[(1, "P21_a")][0] == "none"
    skills = json.loads(
        conn.execute(
            "SELECT skill_ids_json FROM library_versions WHERE version = ?", (by[(1, "C2")][0],)
        ).fetchone()[0]
    )
    names = [s["name"] for s in skills]
    assert names
    prompt = conn.execute(
        "SELECT b.prompt FROM blocks b JOIN trials t ON t.run_id = b.run_id "
        "WHERE t.round = 1 AND t.condition = 'C2' AND b.idx = 0 LIMIT 1"
    ).fetchone()[0]
    for name in names:
        assert f"\n{name}(" in prompt and "  Doc:" in prompt
    report = usage(SessionReader.over(conn))
    assert report.total_calls > 0, "promoted skills are called by later trials"
    called = [r for r in report.rows() if r["calls"]]
    assert called and all(r["skill"] in names for r in called)


@pytest.mark.slow
def test_every_rejected_candidate_has_its_reasons(evolved: Path) -> None:
    conn = sqlite3.connect(evolved)
    rejected = conn.execute("SELECT id FROM skills WHERE status = 'rejected'").fetchall()
    assert rejected
    for (skill_id,) in rejected:
        reasons = conn.execute(
            "SELECT gate, reason FROM gate_results WHERE skill_id = ? AND passed = 0", (skill_id,)
        ).fetchall()
        assert reasons and all(reason for _, reason in reasons)
    promoted = conn.execute("SELECT COUNT(*) FROM skills WHERE status = 'promoted'").fetchone()[0]
    assert promoted > 0


@pytest.mark.slow
def test_skills_cli_lists_shows_and_audits_decisions(evolved: Path, capsys) -> None:
    root = str(evolved.parent.parent)
    session = evolved.parent.name
    assert main(["skills", "list", session, "--sessions-dir", root, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    promoted = [r for r in rows if r["status"] == "promoted"]
    assert all(r["failed_gates"] for r in rows if r["status"] == "rejected")
    target = promoted[0]
    assert (
        main(
            [
                "skills",
                "veto",
                session,
                target["id"],
                "--reason",
                "too clever",
                "--who",
                "ana",
                "--sessions-dir",
                root,
            ]
        )
        == 0
    )
    assert f"vetoed {target['name']}" in capsys.readouterr().out
    assert main(["skills", "show", session, target["id"], "--sessions-dir", root]) == 0
    shown = capsys.readouterr().out
    assert "vetoed" in shown and "decision: veto by ana" in shown and "too clever" in shown
    assert (
        main(
            ["skills", "approve", session, "no_such_skill", "--reason", "x", "--sessions-dir", root]
        )
        == 2
    )


@pytest.mark.slow
async def test_a_veto_sent_while_running_changes_the_next_trials_library(
    evolved: Path, tmp_path: Path
) -> None:
    config_path = tmp_path / "pool.toml"
    config_path.write_text(
        EVOLVE.replace("trials_per_condition = 6", "trials_per_condition = 4")
        .replace("concurrency = 2", "concurrency = 1")
        .replace('[[conditions]]\nname = "P21_a"\nlibrary = "none"\n', "")
        + f'pool = "{evolved.parent.name}"\nmine_every = 0\n'
    )
    config = load_config(config_path)
    directory = create_session(config, evolved.parent.parent)
    reader = SessionReader(directory / "session.db")
    task = asyncio.create_task(execute_session(directory, config, quiet=True))
    while not reader.trials():
        await asyncio.sleep(0.1)
    first_version = reader.trials()[0]["library_version"]
    library = reader.library_version(first_version)["skills"]
    victim = library[0]
    command = reader.send_command(
        "veto", {"skill": victim["id"], "reason": "does not generalise"}, who="bo"
    )
    assert await asyncio.wait_for(task, 120) == "finished"
    result = reader.command(command)["result"]
    assert result.startswith("vetoed")
    decision = {
        k: v
        for k, v in reader.decisions()[0].items()
        if k in ("who", "action", "skill_id", "reason")
    }
    assert decision == {
        "who": "bo",
        "action": "veto",
        "skill_id": victim["id"],
        "reason": "does not generalise",
    }
    versions = [t["library_version"] for t in reader.trials()]
    assert versions[-1] != first_version, "trials after the veto run with a new library version"
    later = reader.library_version(versions[-1])["skills"]
    assert victim["id"] not in [s["id"] for s in later]


@pytest.mark.slow
def test_every_study_condition_builds_and_runs(evolved: Path, tmp_path: Path, capsys) -> None:
    conditions = "".join(
        f'\n[[conditions]]\nname = "{name}"\nlibrary = "{lib}"\n' + (f"k = {k}\n" if k else "")
        for name, lib, k in [
            ("P21_a", "none", 0),
            ("C1", "C1", 0),
            ("C2", "C2", 0),
            ("C3v2", "C3v2", 0),
            ("manual_3", "manual_k", 3),
            ("empty_ns", "empty_ns", 0),
            ("curated9", "curated9", 0),
        ]
    )
    text = (
        '[session]\nname = "all"\ntrials_per_condition = 1\nconcurrency = 2\nquality = "fast"\n'
        '[[backbones]]\nname = "syn"\nbackend = "synthetic"\n'
        + conditions
        + f'\n[skills]\npool = "{evolved.parent.name}"\nmine_every = 0\nmin_occurrences = 2\nquality_min = 0.5\n'
    )
    config = tmp_path / "all.toml"
    config.write_text(text)
    root = str(evolved.parent.parent)
    assert main(["run", str(config), "--sessions-dir", root, "--quiet"]) == 0
    db = max(Path(root).glob("*/session.db"), key=lambda p: p.stat().st_mtime)
    conn = sqlite3.connect(db)
    versions = dict(
        conn.execute(
            "SELECT condition, library_version FROM trials WHERE status = 'done'"
        ).fetchall()
    )
    assert set(versions) == {"P21_a", "C1", "C2", "C3v2", "manual_3", "empty_ns", "curated9"}
    assert versions["P21_a"] == "none" and versions["curated9"].startswith("curated9-")
    sizes = {
        c: len(json.loads(r[0]))
        for c, r in (
            (
                c,
                conn.execute(
                    "SELECT skill_ids_json FROM library_versions WHERE version = ?", (v,)
                ).fetchone(),
            )
            for c, v in versions.items()
        )
        if r is not None
    }
    assert sizes["C2"] <= sizes["C1"] and sizes["C3v2"] <= sizes["C2"] and sizes["manual_3"] <= 3
    assert sizes["empty_ns"] == sizes["C1"]
    empty_source = conn.execute(
        "SELECT source FROM library_versions WHERE version = ?", (versions["empty_ns"],)
    ).fetchone()[0]
    assert "    pass" in empty_source
    capsys.readouterr()
    assert main(["skills", "usage", evolved.parent.name, "--sessions-dir", root, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total_calls"] > 0 and 0 < report["top3_share"] <= 1


def test_evolve_stops_when_the_library_arms_stop_writing_functions(
    monkeypatch, tmp_path: Path
) -> None:
    """The round loop's control flow, with trials and mining replaced by scripted results:
    saturated when the library arm writes at most 25% of round 0's defs per block."""
    from engine.config import parse_config
    from engine.sweep import evolve

    defs = iter([1.0, 0.5, 0.2, 0.0])  # round 2: 0.2 <= 0.25 x 1.0
    ran: list[int] = []

    async def fake_execute(directory, config, quiet=False, round_=0):
        ran.append(round_)
        return "finished"

    def fake_mine(config, directory, round_, known):
        rates = {("C2", "syn"): next(defs)}
        return evolve.RoundReport(round_, "", 4, 2, 10, 0, 3, {"C2": 3}, rates)

    monkeypatch.setattr(evolve, "execute_session", fake_execute)
    monkeypatch.setattr(evolve, "_mine_after", fake_mine)
    config = parse_config("[[backbones]]\n[[conditions]]\nname = 'C2'\nlibrary = 'C2'\n")
    reports = evolve.run_rounds(config, tmp_path, rounds=4, quiet=True)
    assert ran == [0, 1, 2]  # no new candidate in round 1 is not saturation any more
    assert [r.saturated for r in reports] == [False, False, True]
    assert "SATURATED: the library arms stopped writing functions" in reports[-1].line()
    assert "defs per block: C2/syn 0.20" in reports[-1].line()


def test_a_round_cut_short_is_never_saturated(monkeypatch, tmp_path: Path) -> None:
    from engine.config import parse_config
    from engine.sweep import evolve

    statuses = iter(["finished", "stopped"])

    async def fake_execute(directory, config, quiet=False, round_=0):
        return next(statuses)

    def fake_mine(config, directory, round_, known):
        rates = {("C2", "syn"): 1.0 if round_ == 0 else 0.0}
        return evolve.RoundReport(round_, "", 4, 2, 10, 0, 3, {"C2": 3}, rates)

    monkeypatch.setattr(evolve, "execute_session", fake_execute)
    monkeypatch.setattr(evolve, "_mine_after", fake_mine)
    config = parse_config("[[backbones]]\n[[conditions]]\nname = 'C2'\nlibrary = 'C2'\n")
    reports = evolve.run_rounds(config, tmp_path, rounds=3, quiet=True)
    assert [r.status for r in reports] == ["finished", "stopped"]
    assert not any(r.saturated for r in reports)
