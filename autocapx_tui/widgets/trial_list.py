"""A virtual list of trial runs: only the page on screen is ever held or drawn.

Textual's Line API (as in Toolong): the list knows how many rows match and renders each
visible line from the page it was last sent. When the view moves off that page it asks for
another (a message the pane turns into a query on the table worker), and draws the missing
lines as blanks until the page comes, so scrolling never waits for SQLite.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

PAGE = 200
"""Rows asked for at a time (a few screens, so small scrolls need no query)."""


def outcome_word(row: dict) -> str:
    if row["status"] == "done":
        return "SUCCESS" if row["final_success"] else "failed"
    return {"error": "ERROR", "running": "running", "abandoned": "cut off"}.get(
        row["status"], row["status"]
    )


def row_text(row: dict, width: int) -> str:
    """One trial as a line: run, key, seed, outcome, blocks, time, why it ended."""
    ended = row["error"] if row["status"] == "error" else (row["end_reason"] or "")
    wall = f"{row['wall_time_s']:.1f}s" if row["wall_time_s"] is not None else "-"
    text = (
        f"{row['run_id']:>6} {row['trial_key']:<24.24} {row['seed']:>6} "
        f"{outcome_word(row):<8} {row['n_blocks'] or 0:>2} {wall:>6}  {ended}"
    )
    return text[:width].ljust(width)


HEADER = f"{'run':>6} {'trial':<24} {'seed':>6} {'outcome':<8} {'bl':>2} {'time':>6}  ended by"


class TrialList(ScrollView, can_focus=True):
    """Rows ``0..total`` of the current listing; the page from ``offset`` is in memory."""

    DEFAULT_CSS = """
    TrialList {
        height: 1fr;
    }
    """
    BINDINGS = [
        Binding("up", "move(-1)", show=False),
        Binding("down", "move(1)", show=False),
        Binding("pageup", "move_page(-1)", show=False),
        Binding("pagedown", "move_page(1)", show=False),
        Binding("home", "jump(0)", show=False),
        Binding("end", "jump(-1)", show=False),
        Binding("enter", "open", show=False),
    ]
    cursor = reactive(0, repaint=True)

    class NeedPage(Message):
        """The view moved off the page held: rows from ``offset`` are wanted."""

        def __init__(self, offset: int) -> None:
            super().__init__()
            self.first = offset

    class Chosen(Message):
        def __init__(self, run_id: int) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.total = 0
        self.first = 0
        self.rows: list[dict] = []
        self._asked: int | None = None
        self._cursor_style = Style(reverse=True)

    # ------------------------------------------------------------------ data
    def show_page(self, total: int, offset: int, rows: list[dict]) -> None:
        """A page arrived (or the listing changed): redraw what is on screen."""
        changed = (total, offset, rows) != (self.total, self.first, self.rows)
        self.total, self.first, self.rows = total, offset, rows
        self._asked = None
        self.virtual_size = Size(self.size.width, total)
        self.cursor = min(self.cursor, max(0, total - 1))
        if changed:
            self.refresh()

    def row_at(self, index: int) -> dict | None:
        i = index - self.first
        return self.rows[i] if 0 <= i < len(self.rows) else None

    def _need(self, first: int, last: int) -> None:
        covered = self.first <= first and last < self.first + max(len(self.rows), 1)
        if self.total and not covered:
            offset = max(0, first - PAGE // 4)
            if self._asked != offset:
                self._asked = offset
                self.post_message(self.NeedPage(offset))

    # ------------------------------------------------------------------ drawing
    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        width = self.size.width
        if index >= self.total:
            return Strip.blank(width)
        if y == 0:
            self._need(index, min(self.total - 1, index + self.size.height))
        row = self.row_at(index)
        if row is None:
            return Strip([Segment("…".ljust(width))])
        style = self._cursor_style if index == self.cursor and self.has_focus else None
        return Strip([Segment(row_text(row, width), style)])

    # ------------------------------------------------------------------ moving
    def watch_cursor(self, old: int, new: int) -> None:
        top = int(self.scroll_offset.y)
        height = max(1, self.size.height)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False)
        self._need(new, new)

    def action_move(self, step: int) -> None:
        self.cursor = max(0, min(self.total - 1, self.cursor + step))

    def action_move_page(self, pages: int) -> None:
        self.action_move(pages * max(1, self.size.height - 1))

    def action_jump(self, where: int) -> None:
        self.cursor = max(0, self.total - 1) if where < 0 else 0

    def action_open(self) -> None:
        row = self.row_at(self.cursor)
        if row is not None:
            self.post_message(self.Chosen(int(row["run_id"])))

    def on_click(self, event) -> None:
        self.cursor = max(0, min(self.total - 1, int(self.scroll_offset.y) + event.y))
