"""Trial browser: every trial run of the session, filtered, sorted and searched in SQLite.

``/`` opens the filter line (see :mod:`autocapx_tui.filtering`); Enter on a row opens the run
in the live and timeline panes. The list is virtual (:class:`TrialList`), so a session of
100,000 trials costs what one screen of it costs.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from autocapx_tui.filtering import ParsedFilter, parse_filter
from autocapx_tui.widgets.trial_list import HEADER, PAGE, TrialList


class TrialsPane(Vertical):
    DEFAULT_CSS = """
    #trials-title {
        height: 1;
        padding: 0 1;
    }
    #trials-header {
        height: 1;
    }
    #trials-header {
        text-style: bold;
    }
    #trials-filter {
        display: none;
        height: 3;
    }
    #trials-filter.shown {
        display: block;
    }
    """
    BINDINGS = [Binding("slash", "find", "find", show=False)]

    class Open(Message):
        def __init__(self, run_id: int) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self) -> None:
        super().__init__()
        self.parsed: ParsedFilter = parse_filter("")
        self.request: tuple = (self.parsed.trial_filter, self.parsed.sort, 0, PAGE)
        """What the table worker should fetch for this pane (read on its thread)."""

    def compose(self) -> ComposeResult:
        yield Static("trials · /: filter and search · Enter: open", id="trials-title")
        yield Input(
            placeholder="c:COND b:BACKBONE r:ROUND success|failed|error sort:seed|blocks|time  text",
            id="trials-filter",
        )
        yield Static(HEADER, id="trials-header")
        yield TrialList(id="trials-list")

    @property
    def listing(self) -> TrialList:
        return self.query_one(TrialList)

    @staticmethod
    def fetch(queries, request: tuple) -> dict:
        trial_filter, sort, offset, limit = request
        total, rows = queries.trial_page(trial_filter, sort, offset, limit)
        return {"request": request, "total": total, "rows": rows}

    def apply(self, data: dict) -> None:
        if data["request"][:2] != self.request[:2]:
            return  # an answer to a listing no longer asked for
        trial_filter = data["request"][0]
        what = "trial runs" if trial_filter == parse_filter("").trial_filter else "matching"
        self.query_one("#trials-title", Static).update(
            f"{data['total']:,} {what} · sort: {data['request'][1]} · /: filter · Enter: open"
            + (f" · [b]{self.parsed.problem}[/b]" if self.parsed.problem else "")
        )
        self.listing.show_page(data["total"], data["request"][2], data["rows"])

    # ------------------------------------------------------------------ asking
    def _ask(self, offset: int) -> None:
        self.request = (self.parsed.trial_filter, self.parsed.sort, offset, PAGE)
        self.post_message(self.Wanted())

    class Wanted(Message):
        """The pane wants a fresh fetch (the filter changed, or it scrolled off its page)."""

    def on_trial_list_need_page(self, message: TrialList.NeedPage) -> None:
        message.stop()
        self._ask(message.offset)

    def on_trial_list_chosen(self, message: TrialList.Chosen) -> None:
        message.stop()
        self.post_message(self.Open(message.run_id))

    def action_find(self) -> None:
        box = self.query_one("#trials-filter", Input)
        box.add_class("shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.set_filter(event.value)

    def set_filter(self, line: str) -> None:
        self.parsed = parse_filter(line)
        self.listing.cursor = 0
        self.listing.scroll_to(y=0, animate=False)
        self._ask(0)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.listing.focus()
        if not event.value.strip():
            self.query_one("#trials-filter", Input).remove_class("shown")
