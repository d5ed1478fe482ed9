"""Snapshots of the console at 80x24 (an SSH default) and 160x48, on a fixed session."""

from __future__ import annotations

from pathlib import Path

import pytest

from autocapx_tui.app import ConsoleApp
from tests import tui_fixture


@pytest.fixture
def app(tmp_path: Path) -> ConsoleApp:
    return ConsoleApp(tui_fixture.build(tmp_path / "fixture-session"), live_updates=False)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize(
    "keys", [["1"], ["2"], ["4"], ["5"]], ids=["overview", "live", "library", "stats"]
)
def test_console_snapshot(app: ConsoleApp, snap_compare, size, keys) -> None:
    assert snap_compare(app, press=keys, terminal_size=size)
