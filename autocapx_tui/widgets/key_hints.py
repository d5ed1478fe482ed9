"""The fixed key line at the bottom of the session screen.

A fixed line rather than Textual's Footer: the Footer recomposes on every focus change (its
bindings change), which made switching panes several times slower over SSH.
"""

from __future__ import annotations

from textual.widgets import Static

KEY_HINTS = " 1-7 panes  p/r pause/resume  s stop  e errors  f follow  / find  ? help  q quit"
"""Fits 80 columns; ``?`` lists the rest."""


class KeyHints(Static):
    DEFAULT_CSS = """
    KeyHints {
        dock: bottom;
        height: 1;
        background: $panel;
        color: $text;
    }
    """

    def __init__(self) -> None:
        super().__init__(KEY_HINTS, id="keys")
