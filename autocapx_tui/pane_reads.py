"""The table queries behind each pane, read in a process of their own while the console is live.

The statistics pane over a 100,000-trial session costs about 2 s of Python, the overview about
0.2 s, the plots 0.3 s. On a thread of the console's own process that work held the GIL the UI
thread needs to lay out and paint, and the pane switches that fell beside it waited for it
(traced under a sweep). In a separate process (spawned, so it shares no thread state or
connection; one SQLite connection of its own; niced a little below the console, so the UI
wins the CPU too) the UI only unpickles the answer. The statistics libraries are imported
there, not in the console.

``read_pane`` is the one function both ways use: inline (tests, snapshots, the bench's memory
run) and in the process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

from autocapx_tui.queries import StoreQueries
from autocapx_tui.widgets.library import LibraryPane
from autocapx_tui.widgets.overview import OverviewPane
from autocapx_tui.widgets.plots import PlotsPane
from autocapx_tui.widgets.stats import StatsPane
from autocapx_tui.widgets.timeline import TimelinePane
from autocapx_tui.widgets.trials import TrialsPane

TABLE_PANES = {
    "overview": OverviewPane,
    "timeline": TimelinePane,
    "library": LibraryPane,
    "stats": StatsPane,
    "trials": TrialsPane,
    "plots": PlotsPane,
}
"""Panes whose content comes from table queries (the others from the event feed)."""
READER_NICE = 5
"""How far the reading process yields to the console's UI thread."""


def read_pane(tab: str, request: object, queries: StoreQueries) -> object:
    """One pane's data; ``request`` is what the pane asked for (a frozen value, or None)."""
    if tab in ("trials", "timeline"):
        return TABLE_PANES[tab].fetch(queries, request)
    return TABLE_PANES[tab].fetch(queries)


def serve(db: Path, requests: BinaryIO, answers: BinaryIO) -> None:
    """The reading process: one pickled ``(tab, request)`` in, one pickled answer out, until
    the console closes the pipe (or dies)."""
    with contextlib.suppress(OSError):
        os.nice(READER_NICE)
    queries = StoreQueries(db)
    try:
        while (asked := _receive(requests)) is not None:
            tab, request = asked
            try:
                answer: tuple = (True, read_pane(tab, request, queries))
            except Exception as exc:  # the console shows it and asks again later
                answer = (False, _portable(exc))
            _send(answers, answer)
    except (BrokenPipeError, EOFError):
        pass
    finally:
        queries.close()


def _portable(exc: Exception) -> Exception:
    """The exception if it survives pickling, else its words."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _send(stream: BinaryIO, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("!Q", len(data)) + data)
    stream.flush()


def _receive(stream: BinaryIO) -> object | None:
    head = stream.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("!Q", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the pipe closed mid-message")
    return pickle.loads(data)


class PaneReaderLost(RuntimeError):
    """The reading process ended; the table worker's retry starts a new one."""


class PaneReader:
    """A process that reads panes' data for one session, one read at a time. Started with
    ``subprocess`` (not multiprocessing: under Textual, stderr is a capture with no usable
    file descriptor, which multiprocessing's spawn passes to its child)."""

    def __init__(self, db: Path) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        path = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONPATH=root if not path else root + os.pathsep + path)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "autocapx_tui.pane_reads", str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    def read(self, tab: str, request: object) -> object:
        """The pane's data (this thread waits on a pipe, which holds no GIL); the reading
        process's error re-raised here."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            _send(self._proc.stdin, (tab, request))
            answer = _receive(self._proc.stdout)
        except (BrokenPipeError, EOFError, OSError) as exc:
            raise PaneReaderLost(f"the pane reader process ended ({exc})") from None
        if answer is None:
            raise PaneReaderLost(f"the pane reader process ended (exit {self._proc.poll()})")
        ok, value = answer
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """End the process at once: it only reads, so a read cut short loses nothing."""
        self._proc.kill()
        self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()


def main() -> None:
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # a stray print cannot break the protocol
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the process's whole life
    serve(Path(sys.argv[1]), sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
