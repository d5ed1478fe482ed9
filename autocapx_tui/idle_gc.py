"""CPython's full garbage collections, run while the person at the console is not typing.

Measured in tmux under a sweep: full (generation 2) collections over the console's heap took
40-110 ms each, about every 3 s, and the slow pane switches had one inside them. So the
young generations stay automatic (a few ms each) and full collections are held back while
input arrives: they run once the console has been idle for a moment, or, as a backstop, once
far more are due than CPython would have allowed. Modules imported after start-up (the
statistics and the plotting, on first use) live as long as the app, so once they have come
they are moved out of the collector's view (``gc.freeze``), as the start-up objects were.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable

FULL_DUE = 10
"""Young (generation 1) collections after which a full one is due: CPython's own default."""
BACKSTOP = 200
"""Young collections after which a full one runs even while keys keep arriving."""
IDLE_S = 1.0
"""No input for this long: the person is reading, and a pause of the UI is not felt."""
HELD = 1_000_000
"""The generation-2 threshold while held: CPython never starts a full collection itself."""


def full_collection_due(idle_s: float, young_runs: int) -> bool:
    """Whether to run a full collection now: due and idle, or long overdue."""
    return young_runs >= BACKSTOP or (young_runs >= FULL_DUE and idle_s >= IDLE_S)


class IdleCollector:
    """Holds full collections back from automatic to idle-time (``start``/``stop``), told of
    input by ``input_seen`` and asked every so often by ``tick``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last_input = clock()
        self.modules = len(sys.modules)
        self.full_runs = 0
        self._saved: tuple[int, ...] | None = None

    def start(self) -> None:
        """Freeze what start-up made, and hold CPython's own full collections."""
        gc.collect()
        gc.freeze()
        self.modules = len(sys.modules)
        if self._saved is None:
            self._saved = gc.get_threshold()
            gc.set_threshold(self._saved[0], self._saved[1], HELD)

    def stop(self) -> None:
        """Give the collector back as it was (tests run many apps in one process)."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def input_seen(self) -> None:
        self.last_input = self.clock()

    def tick(self) -> bool:
        """Run a full collection if one is due now; True if it ran."""
        idle_s = self.clock() - self.last_input
        new_modules = len(sys.modules) > self.modules
        if not (
            full_collection_due(idle_s, gc.get_count()[2]) or (new_modules and idle_s >= IDLE_S)
        ):
            return False
        gc.collect()
        if new_modules:
            gc.freeze()
            self.modules = len(sys.modules)
        self.full_runs += 1
        return True
