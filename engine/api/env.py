"""A trial environment: one simulator, its robot API and the namespace trial code runs in.

:func:`build_env` is the namespace factory a sandbox worker calls (by import path) to own one
simulator; it also serves in-process runs such as tests and benchmarks.

The namespace is CaP-X's: the ten API functions, ``INPUTS`` (the first observation) and
``RESULT`` (None) as globals, and before every block ``obs``, a fresh observation whose depth is
(H, W, 1), with the API functions bound again (:meth:`TrialEnv.block_globals`). numpy is not
pre-imported: CaP-X's prompt tells the model to import it. CaP-X also binds ``env`` (its raw
simulator: privileged) and ``APIS`` (the API objects); neither exists here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.api.perception import PerceptionNoise
from engine.api.robot import RobotAPI, StatusListener
from engine.sim.simulator import SimConfig, Simulator
from engine.world import WorldSpec


class TrialEnv:
    """Simulator + API + a fresh namespace (the API functions, ``INPUTS``, ``RESULT``)."""

    def __init__(self, world: WorldSpec, status_listener: StatusListener | None = None):
        self.world = world
        self.sim = Simulator(SimConfig.of(world), seed=world.seed)
        self.api = self._api(PerceptionNoise(**world.noise), status_listener)
        self.namespace: dict[str, Any] = {}
        self._fresh_namespace()
        self.api_names = tuple(self.api.functions())

    def _api(self, noise: PerceptionNoise, listener: StatusListener | None) -> RobotAPI:
        return RobotAPI(
            self.sim,
            noise,
            listener,
            privileged_observations=self.world.privileged_observations,
        )

    def _fresh_namespace(self) -> None:
        self.namespace.clear()
        self.namespace.update({"INPUTS": None, "RESULT": None, **self.api.functions()})
        self._blocks = 0

    @property
    def seed(self) -> int:
        return self.world.seed

    def reset(self, seed: int) -> None:
        """Start a new episode in the same scene (cheaper than building a new environment)."""
        self.world = replace(self.world, seed=seed)
        self.sim.reset(seed)
        self.api = self._api(self.api.noise, self.api.status_listener)
        self._fresh_namespace()

    def block_globals(self) -> dict[str, Any]:
        """What is (re)bound before each block, as CaP-X does: a fresh ``obs`` (depth (H, W, 1))
        and the API functions; before the first block also ``INPUTS``, that first observation."""
        obs = self.api.observation(depth_channel=True)
        out: dict[str, Any] = {"obs": obs, **self.api.functions()}
        if self._blocks == 0:
            out["INPUTS"] = obs
        self._blocks += 1
        return out

    def api_call_counts(self) -> dict[str, int]:
        """Calls of each API function so far in this episode (the worker diffs them per block)."""
        return dict(self.api.calls)

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


def build_env(status_listener: StatusListener | None = None, **world: Any) -> TrialEnv:
    """Namespace factory: a fresh environment for one trial; ``world`` holds the
    :class:`~engine.world.WorldSpec` fields (how a sandbox worker is started)."""
    return TrialEnv(WorldSpec(**world), status_listener)
