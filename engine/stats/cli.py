"""``autocapx stats`` sub-commands (placeholder until the stats module lands)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``stats`` command group (filled in by the statistics module)."""
    return None
