"""A trial environment: one simulator, its robot API and the namespace trial code runs in.

:func:`build_env` is the namespace factory a sandbox worker calls (by import path) to own one
simulator; it also serves in-process runs such as tests and benchmarks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine.api.perception import PerceptionNoise
from engine.api.robot import RobotAPI, StatusListener
from engine.sim.simulator import SimConfig, Simulator


@dataclass
class EnvConfig:
    """Everything that determines a trial's world (with the seed)."""

    task: str = "cube_lift"
    camera_size: int = 256
    quality: str = "full"
    noise: dict = field(default_factory=dict)


class TrialEnv:
    """Simulator + API + a fresh namespace (API functions, numpy as ``np``, ``math``)."""

    def __init__(self, config: EnvConfig, seed: int, status_listener: StatusListener | None = None):
        self.config = config
        self.seed = seed
        self.sim = Simulator(
            SimConfig(task=config.task, camera_size=config.camera_size, quality=config.quality),
            seed=seed,
        )
        self.api = RobotAPI(self.sim, PerceptionNoise(**config.noise), status_listener)
        self.namespace: dict[str, Any] = {"np": np, "numpy": np, "math": math}
        self.namespace.update(self.api.functions())
        self.api_names = tuple(self.api.functions())

    def reset(self, seed: int) -> None:
        """Start a new episode in the same scene (cheaper than building a new environment)."""
        self.seed = seed
        self.sim.reset(seed)
        self.api = RobotAPI(self.sim, self.api.noise, self.api.status_listener)
        self.namespace.update(self.api.functions())

    def set_status_listener(self, listener: StatusListener | None) -> None:
        self.api.status_listener = listener

    def prepare(self) -> None:
        """Do the one-time set-up that needs the machine (GL context, lazy imports) up front."""
        self.sim.render()
        import PIL.PngImagePlugin  # noqa: F401 (imported now, before a sandbox locks imports)

    def status(self) -> dict:
        return self.sim.status()

    def summary(self) -> dict:
        """End-of-block state: success, reward, object heights, gripper, step counts."""
        snap = self.sim.snapshot()
        snap["api_calls"] = dict(self.api.calls)
        return snap

    def frame_png(self) -> bytes:
        """The camera view now, as PNG bytes (for vision feedback and saved frames)."""
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.sim.render().rgb).save(buffer, format="PNG")
        return buffer.getvalue()

    def close(self) -> None:
        self.sim.close()


def build_env(
    task: str = "cube_lift",
    seed: int = 0,
    camera_size: int = 256,
    quality: str = "full",
    noise: dict | None = None,
    status_listener: StatusListener | None = None,
) -> TrialEnv:
    """Namespace factory: a fresh environment for one trial."""
    config = EnvConfig(task=task, camera_size=camera_size, quality=quality, noise=dict(noise or {}))
    return TrialEnv(config, seed, status_listener)


def env_config_dict(config: EnvConfig) -> dict:
    return asdict(config)
