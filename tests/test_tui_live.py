"""The live console: workers feed the session screen, database trouble is shown and survived,
and the command palette offers what makes sense at the moment."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from textual.command import CommandList

from autocapx_tui.app import ConsoleApp
from autocapx_tui.palette import session_commands
from autocapx_tui.widgets.dialogs import ReasonDialog
from engine.events import ExecFinished, SessionState, Stdout
from engine.store.writer import SessionWriter
from tests import tui_fixture

DEADLINE_S = 60.0
KEY = "r0/P21_a/syn/0002"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tui_fixture.build(tmp_path / "sessions" / "fixture-session")


async def until(pilot, condition, what: str) -> None:
    """Let the app run until ``condition()`` holds (an observable state, not a fixed sleep)."""
    end = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector).render())


def _palette_hits(app) -> int:
    lists = app.screen.query(CommandList)
    return lists.first().option_count if lists else 0


def append(db: Path, *events) -> None:
    writer = SessionWriter(db, create=False)
    try:
        for event in events:
            writer.event(event, KEY, 5)
        writer.flush()
    finally:
        writer.close()


async def test_workers_bring_new_events_and_tables_to_the_screen(db: Path) -> None:
    app = ConsoleApp(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "4/6 trials done" in text_of(app, "#overview-header"), "tables")
        await pilot.press("2")
        await until(pilot, lambda: KEY in text_of(app, "#live-title"), "the live trial")
        append(db, Stdout(block=0, line="a line written just now"))
        log = app.query_one("#live-stdout")
        await until(pilot, lambda: "a line written just now" in "\n".join(log.lines), "stdout")
        append(db, ExecFinished(block=0, ok=True, success=True, reward=1.0, status={}))
        await until(pilot, lambda: "0 INITIAL SUCCESS" in text_of(app, "#live-status"), "result")


async def test_pause_sent_from_a_live_console_lands_in_the_store(db: Path) -> None:
    app = ConsoleApp(db)
    async with app.run_test() as pilot:
        await pilot.press("p")
        await until(pilot, lambda: tui_fixture.commands(db), "the command row")
    assert [a for a, _, _ in tui_fixture.commands(db)] == ["pause"]


def _rename_table(db: Path, old: str, new: str) -> None:
    """Change the database under the console (the schema changes: every read of it fails)."""
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute(f"ALTER TABLE {old} RENAME TO {new}")
    finally:
        conn.close()


async def test_store_trouble_is_shown_and_the_console_recovers(db: Path) -> None:
    app = ConsoleApp(db)
    async with app.run_test(size=(120, 40)) as pilot:
        banner = app.query_one("#store-status")
        await until(pilot, lambda: "4/6 trials done" in text_of(app, "#overview-header"), "data")
        assert not banner.display
        _rename_table(db, "events", "events_away")
        await until(pilot, lambda: banner.display, "the trouble banner")
        assert "STORE UNREACHABLE" in text_of(app, "#store-status")
        assert "events" in text_of(app, "#store-status")  # says what is wrong
        assert app.is_running  # the console stays up, showing what it had
        assert "4/6 trials done" in text_of(app, "#overview-header")
        _rename_table(db, "events_away", "events")
        await until(pilot, lambda: not banner.display, "the banner to clear")
        append(db, Stdout(block=0, line="after the repair"))
        await pilot.press("2")
        log = app.query_one("#live-stdout")
        await until(pilot, lambda: "after the repair" in "\n".join(log.lines), "new events")


async def test_the_palette_offers_what_makes_sense_now(db: Path) -> None:
    app = ConsoleApp(db, live_updates=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.session
        titles = [t for t, _, _ in session_commands(screen)]
        assert "Pause the sweep" in titles and "Resume the sweep" not in titles
        assert "Show Overview" not in titles and "Show Library" in titles  # not where we are
        assert "Follow the latest trial" not in titles  # nothing is pinned
        await pilot.press("4")
        skill = screen.selected_skill()
        titles = [t for t, _, _ in session_commands(screen)]
        assert f"Veto skill {skill['name']}" in titles and "Show Overview" in titles
        append(db, SessionState(status="paused"))
        screen.refresh_now()
        titles = [t for t, _, _ in session_commands(screen)]
        assert "Resume the sweep" in titles and "Pause the sweep" not in titles
        await pilot.press("ctrl+p")
        await pilot.press(*"veto skill")
        await until(pilot, lambda: _palette_hits(app) > 0, "palette hits")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReasonDialog), "the veto dialog")
        assert skill["name"] in str(app.screen.query_one("Label").render())


async def test_a_file_that_is_not_a_session_is_refused_before_the_console_starts(
    tmp_path: Path,
) -> None:
    from engine.errors import UserError

    bogus = tmp_path / "session.db"
    bogus.write_bytes(b"not a database at all, just some bytes" * 100)
    with pytest.raises(UserError):
        ConsoleApp(bogus)


async def test_the_overview_says_when_the_runner_waits_for_the_database(db: Path) -> None:
    from engine.store import waiting

    app = ConsoleApp(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "4/6 trials done" in text_of(app, "#overview-header"), "data")
        waiting.note(db, time.time() - 7)  # what the writer leaves while another process locks
        await until(
            pilot, lambda: "WAITING FOR THE DATABASE" in text_of(app, "#overview-header"), "wait"
        )
        waiting.clear(db)
        await until(
            pilot, lambda: "WAITING" not in text_of(app, "#overview-header"), "the wait to end"
        )
