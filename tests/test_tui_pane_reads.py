"""The panes' table reads run in a process of their own: the same answers as reading inline,
the store's errors come back as themselves, and a lost process is a retryable loss."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from autocapx_tui.pane_reads import READER_NICE, PaneReader, PaneReaderLost, read_pane
from autocapx_tui.queries import StoreQueries
from engine.errors import UserError
from tests import tui_fixture


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tui_fixture.build(tmp_path / "fixture-session")


@pytest.fixture
def reader(db: Path):
    pane_reader = PaneReader(db)
    yield pane_reader
    pane_reader.close()


def test_a_pane_read_in_the_process_is_the_read_done_inline(db: Path, reader: PaneReader) -> None:
    inline = StoreQueries(db)
    try:
        for tab, request in [("overview", None), ("library", None), ("stats", None)]:
            assert reader.read(tab, request) == read_pane(tab, request, inline), tab
    finally:
        inline.close()
    assert os.getpriority(os.PRIO_PROCESS, reader._proc.pid) == min(
        19, os.getpriority(os.PRIO_PROCESS, 0) + READER_NICE
    ), "it yields the CPU to the console's UI thread"


def test_the_stores_error_comes_back_as_itself(db: Path, reader: PaneReader) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("ALTER TABLE skills RENAME TO skills_gone")
    conn.close()
    with pytest.raises(UserError, match="no such table: skills"):
        reader.read("library", None)
    assert reader.read("overview", None)["session"]["status"], "and the process goes on"


def test_a_killed_reader_is_a_loss_the_table_worker_retries(reader: PaneReader) -> None:
    os.kill(reader._proc.pid, signal.SIGKILL)
    reader._proc.wait()
    with pytest.raises(PaneReaderLost, match="ended"):
        reader.read("overview", None)
