"""The console app: what is the same for every session shown.

App-wide concerns only: styles, no animations, when the garbage collector runs, help,
and what quitting means (a console that started its sweep asks whether to stop it). All about
the session itself (panes, workers, commands, the palette's entries) is in
:class:`~autocapx_tui.screens.session.SessionScreen`, the app's default screen.
"""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from autocapx_tui.idle_gc import IdleCollector
from autocapx_tui.screens.session import SessionScreen
from autocapx_tui.widgets.dialogs import ChoiceDialog, HelpScreen
from engine.store.reader import SessionReader


class ConsoleApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "autocapx"
    BINDINGS = [
        Binding("question_mark", "help", "help"),
        Binding("q", "quit_console", "quit"),
        Binding("ctrl+q", "quit_console", "quit", priority=True),
    ]

    def __init__(self, db: Path, *, owns_engine: bool = False, live_updates: bool = True) -> None:
        super().__init__()
        self.db = Path(db)
        SessionReader(self.db).close()  # not a session, or unreadable: one line, before any UI
        self.owns_engine = owns_engine
        self.live_updates = live_updates
        self.collector = IdleCollector()

    def get_default_screen(self) -> Screen:
        return SessionScreen(self.db, live_updates=self.live_updates)

    @property
    def session(self) -> SessionScreen:
        """The session screen (under any dialog open on top of it)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, SessionScreen)
        return screen

    def on_mount(self) -> None:
        # Animations only cost repaints over a slow link; the console never needs them.
        self.animation_level = "none"
        # Full garbage collections showed up as 40-110 ms key delays: they run when idle.
        self.call_after_refresh(self.collector.start)
        self.set_interval(0.25, self.collector.tick)

    def on_unmount(self) -> None:
        self.collector.stop()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(
            event, (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)
        ):
            self.collector.input_seen()
        await super().on_event(event)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_quit_console(self) -> None:
        if not self.owns_engine:
            self.exit("detached")
            return

        def decided(choice: str | None) -> None:
            if choice == "stop":
                self.session.send_now("stop")
                self.exit("stopped")
            elif choice == "leave":
                self.exit("detached")

        self.push_screen(
            ChoiceDialog(
                "Quit the console. The sweep goes on without it unless you stop it.",
                # the first button has the focus: Enter leaves the sweep running
                [("leave", "Leave it running"), ("stop", "Stop the sweep"), ("cancel", "Cancel")],
            ),
            decided,
        )
