"""Retries timeline of the trial on screen: every block, its decision, what happened."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static


class TimelinePane(Vertical):
    DEFAULT_CSS = """
    #timeline-title {
        height: auto;
        padding: 0 1;
    }
    #timeline-table {
        height: 1fr;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="timeline-title")
        yield DataTable(id="timeline-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("block", "decision", "result", "task", "reward")

    def show(self, trial) -> None:
        if trial is None:
            return
        self.query_one("#timeline-title", Static).update(
            f"[b]{trial.key}[/b] · blocks and decisions"
        )
        table = self.query_one(DataTable)
        table.clear()
        for b in sorted(trial.blocks.values(), key=lambda b: b.index):
            task = "-" if b.success is None else ("SUCCESS" if b.success else "not yet")
            reward = "-" if b.reward is None else f"{b.reward:.2f}"
            table.add_row(str(b.index), b.decision.upper(), (b.result or "")[:80], task, reward)
