"""Console v2 with Pilot: the truth about the runner, errors and halts, pinning and the
retries timeline, the trials filter, the engine's answer to a decision, quit's default."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from autocapx_tui.app import ConsoleApp
from autocapx_tui.filtering import parse_filter
from autocapx_tui.palette import session_commands
from autocapx_tui.widgets.dialogs import ChoiceDialog
from engine.store.trial_query import TrialFilter
from tests import tui_fixture


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tui_fixture.build(tmp_path / "sessions" / "fixture-session")


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector).render())


def execute(db: Path, sql: str, args: tuple = ()) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(sql, args)
    conn.close()


def add_event(db: Path, kind: str, data: dict, key: str | None = None) -> None:
    execute(
        db,
        "INSERT INTO events (at, kind, trial_key, run_id, data_json) VALUES (?, ?, ?, NULL, ?)",
        (time.time(), kind, key, json.dumps(data)),
    )


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


async def timeline_of_run_3(app, pilot) -> None:
    """Pin run 3 (r0/P21_a/syn/0001, two blocks) from the trials pane; show its timeline."""
    await pilot.press("6")
    app.query_one("#trials-list").focus()
    await pilot.press("down", "down", "enter")
    await pilot.pause()
    assert "r0/P21_a/syn/0001" in text_of(app, "#live-title")
    await pilot.press("3")
    await pilot.pause()


def notices(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_a_dead_runner_is_shown_gone_with_the_resume_command(db: Path) -> None:
    execute(db, "UPDATE session SET pid = ?, heartbeat_at = ?", (dead_pid(), time.time() - 30))
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        header = text_of(app, "#overview-header")
        assert "RUNNER GONE" in header and "trials shown running" in header
        assert "resume fixture-session --sessions-dir" in header  # not the default root
        assert app.query_one("#overview-table").get_row_at(1)[5] == "0"  # nothing runs
        titles = [t for t, _, _ in session_commands(app.session)]
        assert "Resume the session" in titles and "Pause the sweep" not in titles
        assert "Stop the sweep" not in titles
        await pilot.press("p")  # refused, not queued for nobody
        await pilot.pause()
        assert tui_fixture.commands(db) == []
        assert "not sent: runner GONE" in notices(app)
        await pilot.press("r")  # offers to start a new runner, spelling the command out
        assert isinstance(app.screen, ChoiceDialog)
        assert "resume fixture-session" in str(app.screen.query_one("Label").render())
        await pilot.press("escape")
    assert tui_fixture.commands(db) == []


async def test_a_live_runner_takes_commands_and_a_stalled_one_is_named(db: Path) -> None:
    execute(db, "UPDATE session SET heartbeat_at = ?", (time.time(),))  # pid: this process
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(100, 30)) as pilot:
        assert "runner alive" in app.screen.sub_title
        await pilot.press("p")
        await pilot.pause()
        execute(db, "UPDATE session SET heartbeat_at = ?", (time.time() - 10,))
        app.session.refresh_now()
        await pilot.pause()
        assert "RUNNER STALLED" in text_of(app, "#overview-header")
    assert [a for a, _, _ in tui_fixture.commands(db)] == ["pause"]


async def test_errors_and_a_halt_are_explained(db: Path) -> None:
    message = "drill-model: HTTP 502 after 3 attempts: scripted HTTP 502"
    execute(db, "UPDATE trials SET status = 'error', error = ? WHERE run_id = 3", (message,))
    add_event(db, "sweep_halted", {"reason": "5 trials in a row failed; the last: " + message})
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        header = text_of(app, "#overview-header")
        assert "HALTED" in header and "HTTP 502" in header and "1 runs lost to errors" in header
        await pilot.press("e")
        await pilot.pause()
        assert app.query_one("TabbedContent").active == "trials"
        listing = app.query_one("#trials-list")
        assert listing.total == 1 and listing.rows[0]["error"] == message
        await pilot.press("enter")
        await pilot.pause()
        assert "ERROR" in text_of(app, "#live-title") and "HTTP 502" in text_of(app, "#live-title")


async def test_a_pinned_trial_shows_each_attempt_its_diff_and_feedback(db: Path) -> None:
    execute(
        db,
        "UPDATE blocks SET code = ?, feedback = ?, exception = ? WHERE run_id = 3 AND idx = 1",
        (
            tui_fixture.CODE.replace('print("lifted")', 'print("lifted higher")'),
            "stdout: lifted higher\nstderr: (none)",
            'Traceback: line 11, in <module>\nValueError: "no grasp"',
        ),
    )
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await timeline_of_run_3(app, pilot)
        timeline = app.query_one("TimelinePane")
        assert [b["idx"] for b in timeline.blocks] == [0, 1]
        assert timeline.selected_block()["idx"] == 1  # the latest attempt first
        shown = timeline._shown
        assert shown[0] == "r0/P21_a/syn/0001" and shown[1] == 1
        detail = app.query_one("#timeline-detail-text").visual
        text = "\n".join(
            str(getattr(part, "code", part)) for part in detail._renderable.renderables
        )
        assert '-print("lifted")' in text and '+print("lifted higher")' in text
        assert "ValueError" in text and "feedback the LLM was given next" in text
        await pilot.press("up")  # the first attempt has nothing before it to diff against
        await pilot.pause()
        assert timeline._shown[1] == 0


def test_the_filter_line_becomes_a_query() -> None:
    parsed = parse_filter("c:C2 b:syn r:0 failed sort:blocks 12,345")
    assert parsed.trial_filter == TrialFilter("C2", "syn", 0, "failed", "12345")
    assert parsed.sort == "blocks" and parsed.problem == ""
    assert "unknown filter 'x'" in parse_filter("x:1").problem
    assert "sort by one of" in parse_filter("sort:colour").problem


async def test_filter_and_search_narrow_the_trials(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("6", "slash")
        listing = app.query_one("#trials-list")
        counts = {}
        for line in ("c:C2", "c:P21_a failed", "running", "0001", "nothing-like-this"):
            box = app.query_one("#trials-filter")
            box.value = line
            await pilot.pause()
            counts[line] = listing.total
        # by hand from the fixture: C2 has 2 runs; P21_a failed once; 1 running; "0001" is
        # in 2 keys (runs 3, 4, also seed 1) and is the run id of run 1
        assert counts == {
            "c:C2": 2,
            "c:P21_a failed": 1,
            "running": 1,
            "0001": 3,
            "nothing-like-this": 0,
        }


async def test_a_decision_is_confirmed_with_the_library_it_produced(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4", "a")
        await pilot.pause()
        app.screen.query_one("Input").value = "useful"
        await pilot.press("enter")
        await pilot.pause()
        [(action, args, _)] = tui_fixture.commands(db)
        command_id = max(tui_fixture.command_ids(db))
        result = "approved quat_from_matrix (aaaaaaaaaaaa): new library C1 C1-7f3a"
        add_event(db, "command", {"id": command_id, "action": "approve", "result": result})
        app.session.refresh_now()
        await pilot.pause()
        assert f"approve: {result}" in notices(app)


async def test_the_library_shows_decisions_and_keeps_the_selected_skill(db: Path) -> None:
    execute(db, "UPDATE skills SET override = 'approved' WHERE id = 'bbbbbbbbbbbb'")
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4", "down")
        table = app.query_one("#library-table")
        assert table.get_row_at(1)[:3] == ["lift_red_cube", "APPROVED", "generality"]
        # a re-mine puts a new skill first: the selection stays on the same skill
        execute(
            db,
            "INSERT INTO skills (id, name, source, signature, docstring, structural_hash, "
            "occurrences, success_rate, quality, status, round, first_seen) VALUES "
            "('000000000000', 'aaa_first', 'def aaa_first(): pass', '()', 'd', 'h2', 9, 1.0, "
            "0.99, 'promoted', 0, 0)",
        )
        app.session.refresh_now()
        await pilot.pause()
        assert app.session.selected_skill()["id"] == "bbbbbbbbbbbb"


async def test_quit_leaves_the_sweep_running_unless_asked(db: Path) -> None:
    for keys in (("q", "enter"), ("ctrl+q", "enter")):
        app = ConsoleApp(db, owns_engine=True, live_updates=False)
        async with app.run_test() as pilot:
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
        assert app.return_value == "detached", keys
    assert tui_fixture.commands(db) == []


async def test_plots_show_each_arm_and_the_spend(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        assert app.query_one("TabbedContent").active == "plots"
        assert "4 finished trials" in text_of(app, "#plots-title")
        assert len(app.query("PlotextPlot")) == 2
        drawn = app.query_one("PlotsPane")._drawn
        assert [c.arm[0] for c in drawn[1]] == ["C2", "P21_a"]  # both arms plotted


async def test_plots_show_the_learning_curve_once_a_library_changed(db: Path) -> None:
    # C2's two trials ran with two library versions (as with mine_every): each is a point;
    # by hand, each version has 1 of 1 trials succeeded, Wilson 95% low 0.2065, high 1
    execute(db, "UPDATE trials SET library_version = 'C2-v1' WHERE trial_key = 'r0/C2/syn/0000'")
    execute(db, "UPDATE trials SET library_version = 'C2-v2' WHERE trial_key = 'r0/C2/syn/0001'")
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        assert len(app.query("PlotextPlot")) == 3
        versions = app.query_one("PlotsPane")._drawn[3]
    assert list(versions) == ["C2"], "P21_a kept one library: no curve"
    assert [(v, rate, high) for v, rate, _, high in versions["C2"]] == [
        ("C2-v1", 1.0, 1.0),
        ("C2-v2", 1.0, 1.0),
    ]
    assert [round(low, 4) for _, _, low, _ in versions["C2"]] == [0.2065, 0.2065]


async def test_stats_show_the_paired_contrast_and_anytime_intervals(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        text = text_of(app, "#stats-design-text")
        # by hand: seed 0 both succeeded, seed 1 only C2 did -> b = 1, c = 0 of 2 pairs,
        # McNemar's exact p = 1 (one discordant pair), difference +50 pp
        assert "C2 vs P21_a · syn: 2 pairs, b=1 c=0, exact p=1, diff +50 pp" in text
        assert "anytime-valid 95% intervals" in text


async def test_approving_shows_the_skills_evidence_first(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4", "a")
        await pilot.pause()
        evidence = str(app.screen.query_one("#evidence-text").render())
        assert "quat_from_matrix (aaaaaaaaaaaa)" in evidence and "mined from 3" in evidence


async def test_a_blocks_kept_frames_are_named_and_opened_from_the_timeline(db: Path) -> None:
    from engine.store import frames

    frames.save(db.parent, 3, 1, {"before": b"\x89PNG-before", "after": b"\x89PNG-after"})
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await timeline_of_run_3(app, pilot)
        timeline = app.query_one("TimelinePane")
        assert timeline.selected_block()["frames"]["after"].endswith("frames/3/1-after.png")
        await pilot.press("o")  # a terminal: where the files are
        await pilot.pause()
        assert "frames: before " in notices(app) and "3/1-after.png" in notices(app)
        await pilot.press("up", "o")  # block 0 kept none
        await pilot.pause()
        assert "no frames kept for this block" in notices(app)


def test_tui_with_a_broken_config_says_the_engines_one_line_and_starts_nothing(
    tmp_path: Path,
) -> None:
    import sys

    bad = tmp_path / "bad.toml"
    bad.write_text('[session]\ntrials_per_condition = "x"\n')
    sessions = tmp_path / "sessions"
    done = subprocess.run(
        [sys.executable, "-m", "engine", "tui", str(bad), "--sessions-dir", str(sessions)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"autocapx: error: config error: {bad}: session.trials_per_condition: must be int, got 'x'"
    ]
    assert not list(sessions.glob("*/session.db"))
