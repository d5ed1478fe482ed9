"""What a task is: the objects on the table, where they start, and when the episode counts as a success."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

TABLE_TOP_Z = 0.80
"""World height of the table top (m), as in CaP-X's cube_lifting."""

TABLE_HALF = 0.40
"""Half of the 0.8 x 0.8 m table."""


@dataclass(frozen=True)
class ObjectSpec:
    """A free-floating box on the table that the camera can see and prompts can name."""

    name: str
    colour: str
    rgba: tuple[float, float, float, float]
    half_size_range: tuple[float, float] = (0.020, 0.022)
    nouns: tuple[str, ...] = ("cube", "block", "box", "object")
    density: float = 1000.0


@dataclass(frozen=True)
class Placement:
    """Initial pose of one object (world frame) and its drawn half-size."""

    pos: tuple[float, float, float]
    yaw: float
    half_size: float


class SceneView(Protocol):
    """What a task may read from the simulator to judge the episode."""

    def object_pos(self, name: str) -> np.ndarray: ...

    def object_half_size(self, name: str) -> float: ...

    def object_touches_gripper(self, name: str) -> bool: ...

    def object_on(self, upper: str, lower: str) -> bool: ...

    def object_grasped(self, name: str) -> bool: ...

    def tcp_position(self) -> np.ndarray: ...


@dataclass(frozen=True)
class Outcome:
    """Success and reward of the current state; reward is in [0, 1] and 1.0 iff success."""

    success: bool
    reward: float
    detail: dict = field(default_factory=dict)


class Task:
    """Base class of a task: subclasses set the fields and implement ``place`` and ``evaluate``."""

    name: str = ""
    goal: str = ""
    objects: tuple[ObjectSpec, ...] = ()
    primary: str = ""
    """The object whose height the console reports as "cube height"."""

    def place(self, rng: np.random.Generator) -> dict[str, Placement]:
        raise NotImplementedError

    def evaluate(self, scene: SceneView) -> Outcome:
        raise NotImplementedError
