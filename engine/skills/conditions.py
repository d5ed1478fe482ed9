"""Library conditions of a sweep: which library each condition's trials run with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.errors import UserError
from engine.skills.library import builtin_library
from engine.sweep.config import SweepConfig
from engine.trial.loop import LibrarySnapshot

BUILTIN = ("none", "curated9")


def library_provider(config: SweepConfig, directory: Path) -> Callable[[str], LibrarySnapshot]:
    """condition name -> the library snapshot its next trial runs with."""
    specs = {c.name: c for c in config.conditions}
    cache: dict[str, LibrarySnapshot] = {}

    def provide(condition: str) -> LibrarySnapshot:
        spec = specs[condition]
        if spec.library not in BUILTIN:
            raise UserError(
                f"condition {condition!r}: library {spec.library!r} needs a mined skill pool "
                "(run `autocapx evolve`)"
            )
        if condition not in cache:
            cache[condition] = builtin_library(spec.library)
        return cache[condition]

    return provide
