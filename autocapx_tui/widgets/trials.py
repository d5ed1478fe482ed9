"""Trial browser: every finished trial; Enter opens it in the live and timeline panes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static


class TrialsPane(Vertical):
    DEFAULT_CSS = """
    #trials-title {
        height: auto;
        padding: 0 1;
    }
    #trials-table {
        height: 1fr;
    }
    """

    class Open(Message):
        def __init__(self, run_id: int) -> None:
            super().__init__()
            self.run_id = run_id

    def compose(self) -> ComposeResult:
        yield Static("finished trials · Enter: open", id="trials-title")
        yield DataTable(id="trials-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(
            "trial", "seed", "final", "any", "blocks", "ended by", "time"
        )
        self._count = -1

    @staticmethod
    def fetch(feed) -> list[dict]:
        return feed.finished_trials()

    def refresh_from(self, feed) -> None:
        self.apply(self.fetch(feed))

    def apply(self, rows: list[dict]) -> None:
        if len(rows) == self._count:
            return
        self._count = len(rows)
        table = self.query_one(DataTable)
        table.clear()
        for r in rows:
            table.add_row(
                r["trial_key"],
                str(r["seed"]),
                "SUCCESS" if r["final_success"] else "failed",
                "yes" if r["any_success"] else "no",
                str(r["n_blocks"]),
                r["end_reason"] or "",
                f"{r['wall_time_s'] or 0:.1f} s",
                key=str(r["run_id"]),
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.post_message(self.Open(int(event.row_key.value)))
