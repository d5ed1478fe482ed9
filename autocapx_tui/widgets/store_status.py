"""A one-line banner for database trouble: what went wrong, that the console keeps retrying.

Hidden while the store answers; shown (and the data on screen kept, marked as stale) while it
does not: a locked, moved or damaged session database never closes the console.
"""

from __future__ import annotations

import time

from textual.widgets import Static


class StoreStatus(Static):
    DEFAULT_CSS = """
    StoreStatus {
        dock: bottom;
        height: auto;
        display: none;
        padding: 0 1;
        background: $error;
        color: $text;
    }
    StoreStatus.trouble {
        display: block;
    }
    """

    def __init__(self) -> None:
        super().__init__("", id="store-status")
        self.since: float | None = None

    @property
    def in_trouble(self) -> bool:
        return self.since is not None

    def trouble(self, problem: str, retry_s: float) -> None:
        """Say what is wrong; the panes keep what they last showed."""
        if self.since is None:
            self.since = time.time()
        shown = time.strftime("%H:%M:%S", time.localtime(self.since))
        self.update(
            f"STORE UNREACHABLE: {problem} · retrying every {retry_s:g} s · "
            f"what is shown is from {shown}"
        )
        self.add_class("trouble")

    def clear(self) -> None:
        self.since = None
        self.remove_class("trouble")
        self.update("")
