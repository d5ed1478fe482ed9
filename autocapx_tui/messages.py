"""The messages the session screen's workers post: its state machine.

Workers read the store on their own threads and post one of these; the screen's handlers,
on the UI thread, are the only code that changes what is shown. Database trouble comes as a
worker error (see ``SessionScreen.on_worker_state_changed``), never as a message.
"""

from __future__ import annotations

from textual.message import Message

from autocapx_tui.feed import TrialView
from engine.store.liveness import RunnerState
from engine.store.reader import StoredEvent


class EventsRead(Message):
    """A batch of new events, in sequence order."""

    def __init__(self, events: list[StoredEvent]) -> None:
        super().__init__()
        self.events = events


class TablesFetched(Message):
    """The rows of one pane's tables (``tab``: the pane's tab id)."""

    def __init__(self, tab: str, data: object) -> None:
        super().__init__()
        self.tab = tab
        self.data = data


class TrialLoaded(Message):
    """A finished trial read back from its blocks, to pin in the live panes."""

    def __init__(self, trial: TrialView | None, run_id: int) -> None:
        super().__init__()
        self.trial = trial
        self.run_id = run_id


class CommandSent(Message):
    """A command row the engine will pick up."""

    def __init__(self, action: str, command_id: int) -> None:
        super().__init__()
        self.action = action
        self.command_id = command_id


class StoreReachable(Message):
    """A worker read the store after trouble: the console is up to date again."""


class RunnerSeen(Message):
    """What the runner's heartbeat says now (alive, stalled, gone, starting, ended)."""

    def __init__(self, runner: RunnerState) -> None:
        super().__init__()
        self.runner = runner


class ResumeStarted(Message):
    """The console started ``autocapx resume --detach`` for a session whose runner was gone."""

    def __init__(self, command: str) -> None:
        super().__init__()
        self.command = command


class EvidenceLoaded(Message):
    """A skill's evidence (provenance, calls, paired effect), read before approve/veto."""

    def __init__(self, action: str, skill: dict, lines: list[str]) -> None:
        super().__init__()
        self.action = action
        self.skill = skill
        self.lines = lines
