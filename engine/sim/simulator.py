"""One simulator: a compiled scene plus its state, stepped at 20 Hz control / 500 Hz physics.

A worker process owns exactly one :class:`Simulator` (no module-level state), so several can run
side by side. Rendering happens only when asked for (:meth:`Simulator.render`), never per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import mujoco
import numpy as np

from engine.sim.render import Frame, FrameRenderer
from engine.sim.scene import SceneModel, build_scene
from engine.sim.tasks import TABLE_TOP_Z, Outcome, Task, get_task
from engine.world import CAMERA_SIZE, WorldSpec

PHYSICS_DT = 0.002
CONTROL_HZ = 20
SUBSTEPS = int(round(1.0 / CONTROL_HZ / PHYSICS_DT))  # 25 physics steps per control step
EPISODE_CAP = 1500
"""Low-level control steps per episode (CaP-X's cap)."""
MOVE_TOLERANCE = 0.02
"""A blocking joint move ends when every joint is within this (rad) of its target..."""
MOVE_MAX_STEPS = 100
"""...or after this many control steps."""
GRIPPER_STEPS = 30
SETTLE_STEPS = 50
MAX_JOINT_SPEED = 1.2
"""rad/s: joint targets are ramped at this speed so moves are smooth enough to keep a grasp."""
FINGER_OPEN = 0.04
HOME_QPOS = np.array([0.0, 0.196, 0.0, -2.618, 0.0, 2.942, 0.785 - math.pi])
"""robosuite's Panda rest pose with joint 7 turned by -pi, as CaP-X does after reset."""


class EpisodeCapReached(RuntimeError):
    """Raised by motion commands once the episode's 1500 control steps are used up."""


@dataclass
class SimConfig:
    """The simulator's share of a world: task, camera size, render quality (and the episode cap)."""

    task: str = "cube_lift"
    camera_size: int = CAMERA_SIZE
    quality: str = "full"
    """"full": visual meshes, shadows, MSAA (people, perception realism); "fast": collision geometry only."""
    episode_cap: int = EPISODE_CAP

    @classmethod
    def of(cls, world: WorldSpec) -> SimConfig:
        return cls(task=world.task, camera_size=world.camera_size, quality=world.quality)


@dataclass
class MoveReport:
    """What a blocking move did: control steps taken, final joint error, whether it converged."""

    steps: int
    error: float
    converged: bool


@dataclass
class SimCounters:
    control_steps: int = 0
    physics_steps: int = 0
    physics_wall: float = 0.0
    renders: int = 0
    render_wall: float = 0.0
    phase: str = "idle"
    events: list[str] = field(default_factory=list)


class Simulator:
    """A task scene that can be reset by seed, commanded by joint targets and rendered on demand."""

    def __init__(self, config: SimConfig | None = None, *, seed: int = 0) -> None:
        self.config = config or SimConfig()
        self.task: Task = get_task(self.config.task)
        if self.config.quality not in ("full", "fast"):
            from engine.errors import UserError

            raise UserError(f"render quality must be 'full' or 'fast', not {self.config.quality!r}")
        full = self.config.quality == "full"
        self.scene: SceneModel = build_scene(self.task, visual_meshes=full, shadows=full)
        self.model = self.scene.model
        self.data = mujoco.MjData(self.model)
        self._renderer: FrameRenderer | None = None
        self._half_sizes: dict[str, float] = {}
        self.counters = SimCounters()
        self.seed = seed
        self.reset(seed)

    # ----------------------------------------------------------------- reset
    def reset(self, seed: int) -> None:
        """Put the arm at rest, open the gripper, place the task's objects from ``seed`` and settle."""
        self.seed = seed
        m, d, s = self.model, self.data, self.scene
        mujoco.mj_resetData(m, d)
        rng = np.random.default_rng(seed)
        placements = self.task.place(rng)
        for name, p in placements.items():
            self._resize_object(name, p.half_size)
            adr = s.object_qpos[name]
            d.qpos[adr : adr + 3] = p.pos
            d.qpos[adr + 3 : adr + 7] = [math.cos(p.yaw / 2), 0, 0, math.sin(p.yaw / 2)]
        d.qpos[s.arm_qpos] = HOME_QPOS
        d.qpos[s.finger_qpos] = [FINGER_OPEN, -FINGER_OPEN]
        d.ctrl[s.arm_act] = HOME_QPOS
        d.ctrl[s.finger_act] = [FINGER_OPEN, -FINGER_OPEN]
        mujoco.mj_forward(m, d)
        mujoco.mj_step(m, d, SETTLE_STEPS * SUBSTEPS)
        self.counters = SimCounters()
        self.gripper_closed = False
        self._rng = np.random.default_rng(seed + 1_000_003)

    def _resize_object(self, name: str, half: float) -> None:
        """Give a box its drawn size (and matching mass/inertia) without recompiling the model."""
        m, s = self.model, self.scene
        g, b = s.object_geom[name], s.object_body[name]
        spec = next(o for o in self.task.objects if o.name == name)
        m.geom_size[g] = [half, half, half]
        m.geom_rbound[g] = half * math.sqrt(3)
        m.geom_aabb[g] = [0, 0, 0, half, half, half]
        mass = spec.density * (2 * half) ** 3
        m.body_mass[b] = mass
        m.body_inertia[b] = [mass * (2 * half) ** 2 / 6] * 3
        self._half_sizes[name] = half

    # ------------------------------------------------------------- stepping
    @property
    def steps_left(self) -> int:
        return self.config.episode_cap - self.counters.control_steps

    def control_step(self, n: int = 1) -> None:
        """Advance ``n`` control steps (25 physics steps each) with the current targets."""
        if self.steps_left <= 0:
            raise EpisodeCapReached(
                f"episode step cap reached ({self.config.episode_cap} control steps); the robot no longer moves"
            )
        n = min(n, self.steps_left)
        t0 = time.perf_counter()
        mujoco.mj_step(self.model, self.data, n * SUBSTEPS)
        c = self.counters
        c.physics_wall += time.perf_counter() - t0
        c.physics_steps += n * SUBSTEPS
        c.control_steps += n

    def arm_qpos(self) -> np.ndarray:
        return self.data.qpos[self.scene.arm_qpos].copy()

    def joint_limits(self) -> np.ndarray:
        return self.model.jnt_range[[self.model.dof_jntid[d] for d in self.scene.arm_dof]].copy()

    def move_to_joints(
        self, target: np.ndarray, on_step: Callable[[], None] | None = None
    ) -> MoveReport:
        """Blocking joint-space move: ramp the servo targets, then wait until within tolerance."""
        target = np.asarray(target, dtype=float).reshape(7)
        limits = self.joint_limits()
        target = np.clip(target, limits[:, 0], limits[:, 1])
        act = self.scene.arm_act
        start = self.data.ctrl[act].copy()
        self.counters.phase = "moving"
        ramp = max(
            1, int(math.ceil(np.max(np.abs(target - start)) / (MAX_JOINT_SPEED / CONTROL_HZ)))
        )
        ramp = min(ramp, MOVE_MAX_STEPS)
        steps = 0
        error = float(np.max(np.abs(self.arm_qpos() - target)))
        while steps < MOVE_MAX_STEPS:
            alpha = min(1.0, (steps + 1) / ramp)
            self.data.ctrl[act] = start + alpha * (target - start)
            self.control_step()
            steps += 1
            if on_step is not None and steps % 5 == 0:
                on_step()
            error = float(np.linalg.norm(self.arm_qpos() - target))
            if alpha >= 1.0 and error < MOVE_TOLERANCE:
                break
        self.counters.phase = "idle"
        return MoveReport(steps, error, error < MOVE_TOLERANCE)

    def set_gripper(self, closed: bool) -> None:
        """Open or close the fingers (blocking, 30 control steps)."""
        width = 0.0 if closed else FINGER_OPEN
        self.data.ctrl[self.scene.finger_act] = [width, -width]
        self.counters.phase = "closing gripper" if closed else "opening gripper"
        self.control_step(GRIPPER_STEPS)
        self.gripper_closed = closed
        self.counters.phase = "idle"

    # ---------------------------------------------------------------- state
    def object_pos(self, name: str) -> np.ndarray:
        return self.data.xpos[self.scene.object_body[name]].copy()

    def object_quat(self, name: str) -> np.ndarray:
        return self.data.xquat[self.scene.object_body[name]].copy()

    def object_half_size(self, name: str) -> float:
        return self._half_sizes[name]

    def gripper_width(self) -> float:
        q = self.data.qpos[self.scene.finger_qpos]
        return float(q[0] - q[1])

    def contacts_of(self, geom: int) -> set[int]:
        """Geoms currently touching ``geom``."""
        d = self.data
        out: set[int] = set()
        for i in range(d.ncon):
            c = d.contact[i]
            if c.geom1 == geom:
                out.add(int(c.geom2))
            elif c.geom2 == geom:
                out.add(int(c.geom1))
        return out

    def object_touches_gripper(self, name: str) -> bool:
        return bool(self.contacts_of(self.scene.object_geom[name]) & self.scene.gripper_geoms)

    def object_grasped(self, name: str) -> bool:
        """Both finger pads touch the object."""
        touching = self.contacts_of(self.scene.object_geom[name])
        return all(p in touching for p in self.scene.pad_geoms)

    def object_on(self, upper: str, lower: str) -> bool:
        up, lo = self.object_pos(upper), self.object_pos(lower)
        hu, hl = self._half_sizes[upper], self._half_sizes[lower]
        gap = (up[2] - hu) - (lo[2] + hl)
        return abs(gap) < 0.01 and float(np.linalg.norm(up[:2] - lo[:2])) < hl

    def tcp_position(self) -> np.ndarray:
        """TCP position in the MuJoCo world frame."""
        return self.data.site_xpos[self.scene.tcp_site].copy()

    def tcp_pose_world(self) -> tuple[np.ndarray, np.ndarray]:
        """TCP position and rotation matrix in the MuJoCo world frame."""
        sid = self.scene.tcp_site
        return self.data.site_xpos[sid].copy(), self.data.site_xmat[sid].reshape(3, 3).copy()

    def evaluate(self) -> Outcome:
        return self.task.evaluate(self)

    def status(self) -> dict:
        """Small JSON-able status for live display: phase, gripper, cube height, step."""
        primary = self.task.primary
        z = float(self.object_pos(primary)[2])
        return {
            "phase": self.counters.phase,
            "gripper": "closed" if self.gripper_closed else "open",
            "gripper_width": round(self.gripper_width(), 4),
            "cube_height": round(z - TABLE_TOP_Z, 4),
            "step": self.counters.control_steps,
            "steps_left": self.steps_left,
        }

    def snapshot(self) -> dict:
        """Scene state for before/after diffs: object poses, gripper, contacts, success so far."""
        outcome = self.evaluate()
        objs = {}
        for o in self.task.objects:
            pos = self.object_pos(o.name)
            objs[o.name] = {
                "pos": [round(float(v), 4) for v in pos],
                "height": round(float(pos[2] - TABLE_TOP_Z - self._half_sizes[o.name]), 4),
                "touching_gripper": self.object_touches_gripper(o.name),
                "grasped": self.object_grasped(o.name),
            }
        tcp, _ = self.tcp_pose_world()
        return {
            "objects": objs,
            "gripper": "closed" if self.gripper_closed else "open",
            "gripper_width": round(self.gripper_width(), 4),
            "tcp": [round(float(v), 4) for v in tcp],
            "step": self.counters.control_steps,
            "success": outcome.success,
            "reward": round(outcome.reward, 4),
        }

    # ------------------------------------------------------------ rendering
    def render(self, *, size: int | None = None) -> Frame:
        """Render RGB, depth (m) and segmentation from ``robot0_robotview`` now."""
        size = size or self.config.camera_size
        if self._renderer is None or self._renderer.size != size:
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = FrameRenderer(self.scene, size)
        t0 = time.perf_counter()
        frame = self._renderer.render(self.data)
        self.counters.renders += 1
        self.counters.render_wall += time.perf_counter() - t0
        return frame

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
