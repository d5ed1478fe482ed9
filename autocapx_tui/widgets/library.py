"""Skill library: promoted and rejected candidates, gate reasons, source; approve or veto."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static


class LibraryPane(Vertical):
    DEFAULT_CSS = """
    #library-title {
        height: auto;
        padding: 0 1;
    }
    #library-table {
        height: 1fr;
    }
    #library-detail {
        height: 1fr;
        border: round $secondary;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("no skills mined yet", id="library-title")
        yield DataTable(id="library-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="library-detail"):
            yield Static("", id="library-detail-text")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(
            "skill", "status", "override", "trials", "success", "quality"
        )
        self.rows: list[dict] = []

    @staticmethod
    def fetch(feed) -> list[dict]:
        return feed.skills()

    def refresh_from(self, feed) -> None:
        self.apply(self.fetch(feed))

    def apply(self, rows: list[dict]) -> None:
        if rows == getattr(self, "rows", None):
            return
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        self.rows = rows
        table.clear()
        for r in rows:
            table.add_row(
                r["name"],
                r["status"].upper(),
                r["override"] or "-",
                str(r["occurrences"]),
                f"{100 * r['success_rate']:.0f}%",
                f"{r['quality']:.2f}",
                key=r["id"],
            )
        promoted = sum(r["status"] == "promoted" for r in rows)
        self.query_one("#library-title", Static).update(
            f"{len(rows)} candidates · {promoted} promoted · a: approve  v: veto (selected skill)"
        )
        if rows:
            table.move_cursor(row=min(max(cursor, 0), len(rows) - 1))
            self.show_detail()

    def selected(self) -> dict | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def on_data_table_row_highlighted(self, _event) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        skill = self.selected()
        if skill is None or getattr(self, "_detail", None) == (skill["id"], skill["gates"]):
            return
        self._detail = (skill["id"], skill["gates"])
        from rich.console import Group
        from rich.text import Text

        gates = Text("\n".join(skill["gates"]) or "no gate results")
        self.query_one("#library-detail-text", Static).update(
            Group(
                Text(f"{skill['name']} ({skill['id']})", style="bold"),
                gates,
                Syntax(skill["source"], "python", theme="ansi_dark"),
            )
        )
