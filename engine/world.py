"""What a trial's world is made of, as plain values (a light module: no MuJoCo import).

:class:`WorldSpec` is the one description of a world, from the sweep config to the simulator:
the config builds it, the trial spec carries it, the sandbox worker is started with it and the
environment is built from it. Config parsing, the CLI and the trial loop use it without loading
the simulator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

CAMERA_SIZE = 512
"""Pixels per side of the ``robot0_robotview`` image by default, as CaP-X renders it."""
MAX_CAMERA_SIZE = 1024
"""The scene's offscreen buffer: no larger image can be rendered."""
MIN_CAMERA_SIZE = 16
ENV_FACTORY = "engine.api.env:build_env"
"""Where a sandbox worker builds the environment of a :class:`WorldSpec` (by import path, so
the parent process never loads the simulator)."""
QUALITIES = ("full", "fast")
"""Render quality: full visual meshes, shadows, MSAA (people, perception realism), or
collision geometry only (tests, CI)."""


@dataclass(frozen=True)
class WorldSpec:
    """Everything that determines a trial's world; with the program, everything it does."""

    task: str = "cube_lift"
    seed: int = 0
    """The scene seed: object placement, physics and perception noise are drawn from it."""
    camera_size: int = CAMERA_SIZE
    quality: str = "full"
    noise: dict = field(default_factory=dict)
    """Perception noise settings (``engine.api.perception.PerceptionNoise`` fields); none: off."""
    privileged_observations: bool = False
    """Object poses in observations: the simulator's ground truth, PRIVILEGED, off by default."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise", dict(self.noise or {}))  # None: no noise

    def to_kwargs(self) -> dict:
        """The world as JSON-able keyword arguments (what a sandbox worker is started with)."""
        return asdict(self)

    def with_seed(self, seed: int) -> WorldSpec:
        return WorldSpec(**{**self.to_kwargs(), "seed": seed})
