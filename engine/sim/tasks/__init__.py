"""Task registry: one module per task; look tasks up by name."""

from __future__ import annotations

from engine.errors import UserError
from engine.sim.tasks.base import TABLE_TOP_Z, ObjectSpec, Outcome, Placement, Task
from engine.sim.tasks.cube_lift import CubeLift
from engine.sim.tasks.cube_stack import CubeStack

TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (CubeLift, CubeStack)}


def get_task(name: str) -> Task:
    """Return a fresh task by name, or a UserError listing the known ones."""
    try:
        return TASKS[name]()
    except KeyError:
        raise UserError(f"unknown task {name!r} (known: {', '.join(sorted(TASKS))})") from None


__all__ = ["TABLE_TOP_Z", "TASKS", "ObjectSpec", "Outcome", "Placement", "Task", "get_task"]
