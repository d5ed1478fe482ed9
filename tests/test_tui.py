"""The console with Pilot: every pane, every key action, commands landing in the store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from autocapx_tui.app import ConsoleApp
from autocapx_tui.widgets.dialogs import ChoiceDialog, HelpScreen, ReasonDialog
from autocapx_tui.widgets.live import LivePane
from autocapx_tui.widgets.stats import interval_bar
from tests import tui_fixture


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tui_fixture.build(tmp_path / "sessions" / "fixture-session")


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector).render())


async def test_every_pane_is_reachable_by_key(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, tab in zip(
            "1234567",
            ("overview", "live", "timeline", "library", "stats", "trials", "plots"),
            strict=True,
        ):
            await pilot.press(key)
            assert app.query_one("TabbedContent").active == tab
        overview = text_of(app, "#overview-header")
        assert "SYNTHETIC offline coder" in overview and "4/6 trials done · 3 succeeded" in overview
        table = app.query_one("#overview-table")
        assert table.row_count == 2


async def test_live_pane_shows_streamed_code_stdout_and_status(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        assert "r0/P21_a/syn/0002" in text_of(app, "#live-title")
        status = text_of(app, "#live-status")
        assert "phase   moving" in status and "cube    2.1 cm" in status and "0 INITIAL" in status
        assert "12 grasp candidates" in "\n".join(app.query_one("#live-stdout").lines)
        # New events arrive while watching: they show up on the next tick.
        conn = sqlite3.connect(db)
        with conn:
            conn.execute(
                "INSERT INTO events (at, kind, trial_key, run_id, data_json) VALUES (0, 'exec_result', 'r0/P21_a/syn/0002', 5, ?)",
                (
                    json.dumps(
                        {
                            "block": 0,
                            "ok": True,
                            "success": True,
                            "reward": 1.0,
                            "status": {
                                "phase": "idle",
                                "gripper": "closed",
                                "cube_height": 0.17,
                                "step": 86,
                            },
                        }
                    ),
                ),
            )
        conn.close()
        app.session.refresh_now()
        await pilot.pause()
        status = text_of(app, "#live-status")
        assert "gripper closed" in status and "0 INITIAL SUCCESS" in status


async def test_approve_and_veto_land_in_the_store_with_a_reason(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await pilot.press("v")
        await pilot.pause()  # the skill's evidence is read first
        assert isinstance(app.screen, ReasonDialog)
        app.screen.query_one("#ok").press()  # no reason yet: refused
        await pilot.pause()
        assert isinstance(app.screen, ReasonDialog)
        app.screen.query_one("Input").value = "hard-coded pose"
        app.screen.query_one("#ok").press()
        await pilot.pause()
        assert not isinstance(app.screen, ReasonDialog)
        await pilot.press("down", "a")
        await pilot.pause()
        app.screen.query_one("Input").value = "useful after all"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("escape")  # cancelled: nothing sent
    sent = tui_fixture.commands(db)
    assert [(a, args["skill"], args["reason"]) for a, args, _ in sent] == [
        ("veto", "aaaaaaaaaaaa", "hard-coded pose"),
        ("approve", "bbbbbbbbbbbb", "useful after all"),
    ]


async def test_pause_resume_and_stop_reach_the_engine_through_the_store(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test() as pilot:
        await pilot.press("p", "r", "s")
        assert isinstance(app.screen, ChoiceDialog)
        await pilot.click("#stop")
        await pilot.pause()
    assert [a for a, _, _ in tui_fixture.commands(db)] == ["pause", "resume", "stop"]


async def test_trial_browser_opens_a_finished_trial(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("6")
        listing = app.query_one("#trials-list")
        assert listing.total == 5  # 4 done and 1 running: every run, not only finished ones
        listing.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one("TabbedContent").active == "live"
        assert "PINNED" in text_of(app, "#live-title")
        assert "the program that ran" in app.query_one(LivePane)._code[1]
        await pilot.press("3")
        assert app.query_one("#timeline-table").row_count == 2
        await pilot.press("f")
        assert "PINNED" not in text_of(app, "#live-title")


async def test_quitting_a_tui_session_asks_what_to_do_with_the_sweep(db: Path) -> None:
    app = ConsoleApp(db, owns_engine=True, live_updates=False)
    async with app.run_test() as pilot:
        await pilot.press("q")
        assert isinstance(app.screen, ChoiceDialog)
        await pilot.click("#leave")
    assert app.return_value == "detached" and tui_fixture.commands(db) == []
    app = ConsoleApp(db, owns_engine=True, live_updates=False)
    async with app.run_test() as pilot:
        await pilot.press("q")
        await pilot.click("#stop")
    assert app.return_value == "stopped" and [a for a, _, _ in tui_fixture.commands(db)] == ["stop"]
    attached = ConsoleApp(db, live_updates=False)
    async with attached.run_test() as pilot:
        await pilot.press("q")  # attached viewers just leave
    assert attached.return_value == "detached"


async def test_help_and_stats(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("5")
        table = app.query_one("#stats-table")
        assert table.row_count == 2
        row = table.get_row_at(0)
        assert row[0] == "C2" and row[3] == "100%" and row[6] == "+50 pp"


def test_interval_bar_needs_no_colour() -> None:
    # width 11: cells 0..10, so 0.2 -> cell 2, 0.5 -> cell 5, 0.8 -> cell 8
    bar = interval_bar(0.2, 0.5, 0.8, width=11)
    assert bar == "  [" + "──" + "|" + "──" + "]" + "  "
    assert bar.index("[") < bar.index("|") < bar.index("]")
    # width 10: cells 0..9, so 0.0 -> cell 0 (the rate's '|' covers the '['), 0.3 -> cell 3
    edge = interval_bar(0.0, 0.0, 0.3, width=10)
    assert edge.startswith("|")
    assert edge == "|" + "──" + "]" + " " * 6


async def test_a_ray_sweep_says_where_trials_run_and_when_a_worker_was_lost(db: Path) -> None:
    conn = sqlite3.connect(db)
    key = "r0/P21_a/syn/0002"
    with conn:
        config = json.loads(conn.execute("SELECT config_json FROM session").fetchone()[0])
        config["_executor"] = {"kind": "ray", "address": "10.0.0.1:6379", "cpus_per_trial": 1.0}
        conn.execute("UPDATE session SET config_json = ?", (json.dumps(config),))
        for kind, data in (
            ("worker_lost", {"reason": "ActorDiedError (pid 4242 on node-a)", "attempt": 1}),
            ("trial_placed", {"host": "node-b", "pid": 777, "node": "abcdef0123456789"}),
            ("trial_started", {"condition": "P21_a", "backend": "syn", "seed": 2}),
        ):
            conn.execute(
                "INSERT INTO events (at, kind, trial_key, run_id, data_json) VALUES (0, ?, ?, 6, ?)",
                (kind, key, json.dumps(data)),
            )
    conn.close()
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert "SYNTHETIC offline coder on ray" in text_of(app, "#overview-header")
        await pilot.press("2")
        lines = "\n".join(app.query_one("#live-stdout").lines)
        assert "worker lost: ActorDiedError (pid 4242 on node-a); the trial runs again" in lines
        assert "running on node-b (pid 777, node abcdef01)" in lines


def test_eta_follows_the_pace_of_the_recent_finishes() -> None:
    from autocapx_tui.widgets.overview import eta_text

    # 11 finishes 30 s apart: 30 s per trial; 40 left -> 20 min
    assert eta_text([1000.0 + 30 * i for i in range(11)], 40) == "20 min"
    assert eta_text([5.0, 6.0, 7.0], 2) == "< 1 min"
    assert eta_text([5.0], 10) == "-"  # one finish says nothing about the pace
    assert eta_text([], 0) == "done"
