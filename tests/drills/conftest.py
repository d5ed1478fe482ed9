"""The drill table: every drill records (drill, figure, held); the run ends with the table.

A drill test calls ``drill("runner kill -9 x10", "20/20 trials, 0 duplicates", held)`` and
then asserts what it checked, so a drill that does not hold fails its test *and* shows as
``NO`` in the table. ``pytest tests/drills`` prints the table after the summary (as part of
``make test`` too).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

_ROWS: list[tuple[str, str, bool]] = []


@pytest.fixture
def drill() -> Callable[[str, str, bool], bool]:
    def record(name: str, figure: str, held: bool) -> bool:
        _ROWS.append((name, figure, bool(held)))
        return bool(held)

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if not _ROWS:
        return
    width = max(len(r[0]) for r in _ROWS)
    terminalreporter.section("fault drills")
    terminalreporter.write_line(f"{'drill':{width}}  held  figure")
    for name, figure, held in _ROWS:
        terminalreporter.write_line(f"{name:{width}}  {'yes ' if held else 'NO  '}  {figure}")
