"""The console's full garbage collections wait for a pause in the person's typing (they cost
40-110 ms under a sweep), but never forever, and the collector is given back on exit."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from autocapx_tui.app import ConsoleApp
from autocapx_tui.idle_gc import (
    BACKSTOP,
    FULL_DUE,
    HELD,
    IDLE_S,
    IdleCollector,
    full_collection_due,
)
from tests import tui_fixture


@pytest.mark.parametrize(
    "idle_s, young_runs, due",
    [
        (0.0, FULL_DUE, False),  # due, but keys are arriving
        (IDLE_S, FULL_DUE, True),  # due, and the person paused
        (IDLE_S, FULL_DUE - 1, False),  # idle, but not due: CPython would not collect either
        (0.0, BACKSTOP, True),  # long overdue: collect even while typing
    ],
)
def test_a_full_collection_runs_when_due_and_idle_or_long_overdue(
    idle_s: float, young_runs: int, due: bool
) -> None:
    assert full_collection_due(idle_s, young_runs) is due


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _young_collections(n: int) -> None:
    for _ in range(n):
        gc.collect(1)  # each counts towards the next full collection, as automatic ones do


def test_the_collector_holds_full_collections_until_idle_and_gives_the_gc_back() -> None:
    saved = gc.get_threshold()
    clock = Clock()
    collector = IdleCollector(clock)
    collector.start()
    try:
        assert gc.get_threshold() == (saved[0], saved[1], HELD)
        _young_collections(FULL_DUE)
        collector.input_seen()
        assert not collector.tick() and gc.get_count()[2] >= FULL_DUE
        clock.now += IDLE_S
        assert collector.tick() and collector.full_runs == 1
        assert gc.get_count()[2] == 0, "the full collection ran"
        _young_collections(BACKSTOP)
        collector.input_seen()
        assert collector.tick(), "typing without pause cannot hold it back forever"
    finally:
        collector.stop()
    assert gc.get_threshold() == saved


async def test_the_console_holds_full_collections_while_it_runs_and_counts_keys_as_input(
    tmp_path: Path,
) -> None:
    saved = gc.get_threshold()
    app = ConsoleApp(tui_fixture.build(tmp_path / "fixture-session"), live_updates=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert gc.get_threshold()[2] == HELD
        before = app.collector.last_input
        await pilot.press("5")
        assert app.collector.last_input > before
    assert gc.get_threshold() == saved
