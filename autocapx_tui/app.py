"""The console app: six panes over one session, fed from the store on timers.

Events are polled every 0.1 s (streamed code coalesces into one repaint per tick); tables are
refreshed every second, never per event, so a slow SSH link stays responsive. Commands (pause,
resume, stop, approve, veto) are rows written into the store; the engine applies them.
"""

from __future__ import annotations

import gc
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.widgets import Header, Static, TabbedContent, TabPane

from autocapx_tui.feed import SessionFeed
from autocapx_tui.widgets.dialogs import ChoiceDialog, HelpScreen, ReasonDialog
from autocapx_tui.widgets.library import LibraryPane
from autocapx_tui.widgets.live import LivePane
from autocapx_tui.widgets.overview import OverviewPane
from autocapx_tui.widgets.stats import StatsPane
from autocapx_tui.widgets.timeline import TimelinePane
from autocapx_tui.widgets.trials import TrialsPane

TABS = ("overview", "live", "timeline", "library", "stats", "trials")
KEY_HINTS = (
    " 1-6 panes  p pause  r resume  s stop  a/v approve/veto  f follow  ^p palette  ? help  q quit"
)
"""A fixed key line rather than Textual's Footer: the Footer recomposes on every focus change
(its bindings change), which made switching panes several times slower over SSH."""
EVENT_TICK_S = 0.1
TABLE_TICK_S = 1.0


class SessionCommands(Provider):
    """Command palette entries for the session's actions."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, ConsoleApp)
        actions = [
            ("Pause the sweep", app.action_pause),
            ("Resume the sweep", app.action_resume),
            ("Stop the sweep", app.action_stop),
            ("Approve the selected skill", app.action_approve),
            ("Veto the selected skill", app.action_veto),
            ("Follow the latest trial", app.action_follow),
        ] + [(f"Show {tab}", lambda tab=tab: app.action_show_tab(tab)) for tab in TABS]
        matcher = self.matcher(query)
        for text, callback in actions:
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback)


class ConsoleApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "autocapx"
    COMMANDS = App.COMMANDS | {SessionCommands}
    BINDINGS = [
        Binding("1", "show_tab('overview')", "overview"),
        Binding("2", "show_tab('live')", "live"),
        Binding("3", "show_tab('timeline')", "timeline"),
        Binding("4", "show_tab('library')", "library"),
        Binding("5", "show_tab('stats')", "stats"),
        Binding("6", "show_tab('trials')", "trials"),
        Binding("p", "pause", "pause"),
        Binding("r", "resume", "resume"),
        Binding("s", "stop", "stop"),
        Binding("a", "approve", "approve", show=False),
        Binding("v", "veto", "veto", show=False),
        Binding("f", "follow", "follow", show=False),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit_console", "quit"),
    ]

    def __init__(self, db: Path, *, owns_engine: bool = False, live_updates: bool = True) -> None:
        super().__init__()
        self.db = Path(db)
        self.owns_engine = owns_engine
        self.live_updates = live_updates
        self.feed = SessionFeed(self.db)
        self.pinned = None
        self.notices: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with TabbedContent(initial="overview"):
            with TabPane("1 Overview", id="overview"):
                yield OverviewPane()
            with TabPane("2 Live", id="live"):
                yield LivePane()
            with TabPane("3 Timeline", id="timeline"):
                yield TimelinePane()
            with TabPane("4 Library", id="library"):
                yield LibraryPane()
            with TabPane("5 Stats", id="stats"):
                yield StatsPane()
            with TabPane("6 Trials", id="trials"):
                yield TrialsPane()
        yield Static(KEY_HINTS, id="keys")

    def on_mount(self) -> None:
        # Animations only cost repaints over a slow link; the console never needs them.
        self.animation_level = "none"
        self.sub_title = self.db.parent.name
        self._stale_live = True
        self.feed.poll()
        self.tick_tables(everything=True)
        self.render_live_all()
        # Start-up objects (widgets, styles) live as long as the app: keep them out of the
        # cyclic collector, whose full passes over them showed up as 60-90 ms key delays.
        gc.collect()
        gc.freeze()
        if self.live_updates:
            self.set_interval(EVENT_TICK_S, self.tick_events)
            self.set_interval(TABLE_TICK_S, self.tick_tables)

    # ------------------------------------------------------------------ feeding
    def current_trial(self):
        if self.pinned is not None:
            return self.pinned
        return self.feed.trials.get(self.feed.latest) if self.feed.latest else None

    def render_live_all(self) -> None:
        trial = self.current_trial()
        self.query_one(LivePane).show(trial, self.pinned is not None)
        self.query_one(TimelinePane).show(trial)
        self._stale_live = False

    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active

    def tick_events(self) -> None:
        """Read new events; repaint the live panes only if one of them is on screen."""
        if self.feed.poll() or self._stale_live:
            self._stale_live = True
            if self.active_tab in ("live", "timeline"):
                self.render_live()

    def render_live(self) -> None:
        trial = self.current_trial()
        if self.active_tab == "live":
            self.query_one(LivePane).show(trial, self.pinned is not None)
        else:
            self.query_one(TimelinePane).show(trial)
        self._stale_live = False

    PANES = {
        "overview": OverviewPane,
        "library": LibraryPane,
        "stats": StatsPane,
        "trials": TrialsPane,
    }

    def tick_tables(self, everything: bool = False) -> None:
        """Refresh the tables of the pane on screen (all of them on start-up); tables whose
        rows did not change are left alone. Live, the queries run in a thread so a keypress
        never waits for the database."""
        tabs = list(self.PANES) if everything else [self.active_tab]
        tabs = [t for t in tabs if t in self.PANES]
        if everything or not self.live_updates:
            for tab in tabs:
                pane = self.query_one(self.PANES[tab])
                pane.apply(pane.fetch(self.feed))
            return
        if tabs:
            self._fetch_tables(tabs[0])

    @work(thread=True, exclusive=True, group="tables")
    def _fetch_tables(self, tab: str) -> None:
        pane_type = self.PANES[tab]
        data = pane_type.fetch(self.feed)
        self.call_from_thread(self._apply_table, tab, data)

    def _apply_table(self, tab: str, data) -> None:
        if self.active_tab == tab:
            self.query_one(self.PANES[tab]).apply(data)

    # ------------------------------------------------------------------ actions
    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self._focus_pane(tab)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_pane(event.pane.id or "")

    def _focus_pane(self, tab: str) -> None:
        """Arrow keys should move through the pane's table (or scroll its log) at once; a pane
        that was off screen is brought up to date as it appears."""
        if tab in ("live", "timeline") and self._stale_live:
            self.render_live()
        pane = self.query_one(f"TabPane#{tab}")
        targets = pane.query("DataTable") or pane.query("#live-code")
        if targets:
            targets.first().focus()

    def _command(self, action: str, args: dict | None = None) -> None:
        command_id = self.feed.send(action, args)
        self.notify(f"{action} sent to the engine (command {command_id})")

    def action_pause(self) -> None:
        self._command("pause")

    def action_resume(self) -> None:
        self._command("resume")

    def action_stop(self) -> None:
        def decided(choice: str | None) -> None:
            if choice == "stop":
                self._command("stop")

        self.push_screen(
            ChoiceDialog(
                "Stop the sweep? Running trials are cut off and re-run on resume.",
                [("stop", "Stop"), ("cancel", "Cancel")],
            ),
            decided,
        )

    def _decide(self, action: str) -> None:
        skill = self.query_one(LibraryPane).selected()
        if skill is None:
            self.notify("select a skill in the library pane first (4)", severity="warning")
            return

        def done(reason: str | None) -> None:
            if reason:
                self._command(action, {"skill": skill["id"], "reason": reason})

        self.push_screen(ReasonDialog(action, skill["name"]), done)

    def action_approve(self) -> None:
        self._decide("approve")

    def action_veto(self) -> None:
        self._decide("veto")

    def action_follow(self) -> None:
        self.pinned = None
        self.render_live_all()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    @on(TrialsPane.Open)
    def open_trial(self, message: TrialsPane.Open) -> None:
        self.pinned = self.feed.load_trial(message.run_id)
        self.render_live_all()
        self.action_show_tab("live")

    def action_quit_console(self) -> None:
        if not self.owns_engine:
            self.exit("detached")
            return

        def decided(choice: str | None) -> None:
            if choice == "stop":
                self.feed.send("stop")
                self.exit("stopped")
            elif choice == "leave":
                self.exit("detached")

        self.push_screen(
            ChoiceDialog(
                "Quit the console. Stop the sweep, or leave it running detached (re-attach with autocapx attach)?",
                [("stop", "Stop the sweep"), ("leave", "Leave it running"), ("cancel", "Cancel")],
            ),
            decided,
        )

    def on_unmount(self) -> None:
        self.feed.close()
