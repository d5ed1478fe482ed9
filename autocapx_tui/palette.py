"""The command palette (ctrl+p) of a session: what can be done here, now.

Context-aware: the sweep's state and its runner's decide between pause, resume and starting a
new runner (when the old one is gone), approve and veto name the
skill selected in the library pane (and appear only when one is), "follow" appears only while
a finished trial is pinned, and the pane on screen is not offered as a place to go. With an
empty query the palette lists these (``discover``); typing filters them (``search``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from autocapx_tui.screens.session import SessionScreen

Command = tuple[str, str, Callable[[], object]]
"""(title, help, callback)."""


def session_commands(screen: SessionScreen) -> list[Command]:
    """The commands that make sense on ``screen`` in its present state."""
    from autocapx_tui.screens.session import TAB_TITLES

    status = screen.session_status
    commands: list[Command] = []
    runner = screen.runner
    if runner is not None and runner.state == "gone" or status == "stopped":
        commands.append(
            ("Resume the session", "start a new runner in the background", screen.action_resume)
        )
    elif status in ("running", "created"):
        commands.append(("Pause the sweep", "no new trials start", screen.action_pause))
    if status == "paused":
        commands.append(("Resume the sweep", "trials start again", screen.action_resume))
    if status not in ("finished", "stopped") and (runner is None or runner.can_take_commands):
        commands.append(
            ("Stop the sweep", "asks first; resume re-runs cut trials", screen.action_stop)
        )
    skill = screen.selected_skill()
    if skill is not None:
        name = skill["name"]
        commands += [
            (f"Approve skill {name}", "asks for a reason", screen.action_approve),
            (f"Veto skill {name}", "asks for a reason", screen.action_veto),
        ]
    commands.append(("Show the errors", "every run lost to an error", screen.action_show_errors))
    if screen.pinned is not None:
        commands.append(("Follow the latest trial", "unpin the trial shown", screen.action_follow))
    for tab, title in TAB_TITLES.items():
        if tab != screen.active_tab:
            commands.append(
                (f"Show {title}", f"pane {title.lower()}", lambda t=tab: screen.action_show_tab(t))
            )
    return commands


class SessionCommands(Provider):
    """Palette entries for the session screen the palette was opened on."""

    def _commands(self) -> list[Command]:
        from autocapx_tui.screens.session import SessionScreen

        screen = self.screen
        return session_commands(screen) if isinstance(screen, SessionScreen) else []

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
