"""Skill library: promoted and rejected candidates, gate reasons, source; approve or veto."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static


def skill_state(row: dict) -> str:
    """A skill's state now: a person's decision wins over the gates' verdict."""
    if row["override"] == "approved":
        return "APPROVED"
    if row["override"] == "vetoed":
        return "VETOED"
    return row["status"].upper()


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
            "skill", "state", "first failed gate", "trials", "success", "quality"
        )
        self.rows: list[dict] = []
        self._selected_id: str | None = None

    @staticmethod
    def fetch(feed) -> list[dict]:
        return feed.skills()

    def apply(self, rows: list[dict]) -> None:
        if rows == getattr(self, "rows", None):
            return
        table = self.query_one(DataTable)
        keep = self._selected_id  # the skill, not the row number, survives a re-mine
        self.rows = rows
        table.clear()
        for r in rows:
            table.add_row(
                r["name"],
                skill_state(r),
                r["first_failed"] or "-",
                str(r["occurrences"]),
                f"{100 * r['success_rate']:.0f}%",
                f"{r['quality']:.2f}",
                key=r["id"],
            )
        promoted = sum(skill_state(r) in ("PROMOTED", "APPROVED") for r in rows)
        self.query_one("#library-title", Static).update(
            f"{len(rows)} candidates · {promoted} in the library · a: approve  v: veto"
        )
        if rows:
            ids = [r["id"] for r in rows]
            row = ids.index(keep) if keep in ids else 0
            table.move_cursor(row=row)
            self._selected_id = ids[row]
            self.show_detail()

    def selected(self) -> dict | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def on_data_table_row_highlighted(self, _event) -> None:
        skill = self.selected()
        if skill is not None:
            self._selected_id = skill["id"]
        self.show_detail()

    def show_detail(self) -> None:
        skill = self.selected()
        if skill is None or getattr(self, "_detail", None) == (skill["id"], skill["gates"]):
            return
        self._detail = (skill["id"], skill["gates"])
        from rich.console import Group
        from rich.text import Text

        gates = Text("\n".join(skill["gates"]) or "no gate results")
        if skill["override"]:
            gates.append(
                f"\n{skill['override'].upper()} by a person (gates said {skill['status']})"
            )
        self.query_one("#library-detail-text", Static).update(
            Group(
                Text(f"{skill['name']} ({skill['id']})", style="bold"),
                gates,
                Syntax(skill["source"], "python", theme="ansi_dark"),
            )
        )
