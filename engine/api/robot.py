"""The CaP-X reduced robot API: ten functions over one simulator, injected into trial code as globals.

Names, signatures, units and frames follow CaP-X's ``cube_lifting`` API ("world" = robot base
frame, quaternions [w, x, y, z], camera pose in OpenCV convention). The docstrings are what the
LLM reads: :mod:`engine.api.docs` turns them into the prompt's API section.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.api import geometry
from engine.api.grasp import plan_grasps
from engine.api.names import API_NAMES
from engine.api.perception import (
    PerceptionNoise,
    instances_from_segmentation,
    match_objects,
    noisy_depth,
)
from engine.sim.ik import IKSolver
from engine.sim.render import Frame
from engine.sim.scene import CAMERA_NAME
from engine.sim.simulator import HOME_QPOS, Simulator

StatusListener = Callable[[dict], None]


class RobotAPI:
    """Binds the ten API functions to one :class:`Simulator`."""

    def __init__(
        self,
        sim: Simulator,
        noise: PerceptionNoise | None = None,
        status_listener: StatusListener | None = None,
    ) -> None:
        self.sim = sim
        self.noise = noise or PerceptionNoise()
        self.status_listener = status_listener
        self._ik = IKSolver(sim.scene, HOME_QPOS)
        self._last_ik = sim.arm_qpos()
        self._frames: list[Frame] = []
        self._rng = np.random.default_rng(sim.seed + 7919)
        self.calls: dict[str, int] = {}

    # -- plumbing --------------------------------------------------------------------------
    def functions(self) -> dict[str, Callable[..., Any]]:
        """The ten functions by name, ready to inject into a namespace."""
        return {name: getattr(self, name) for name in API_NAMES}

    def _count(self, name: str, phase: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        self.sim.counters.phase = phase
        self._notify()

    def _notify(self) -> None:
        if self.status_listener is not None:
            self.status_listener(self.sim.status())

    def _frame_for(self, image: np.ndarray) -> Frame:
        """The rendered frame an image came from (perception reads that frame's segmentation)."""
        for frame in reversed(self._frames):
            if image is frame.rgb or (
                isinstance(image, np.ndarray)
                and image.shape == frame.rgb.shape
                and np.array_equal(image, frame.rgb)
            ):
                return frame
        return self._capture()

    def _capture(self) -> Frame:
        frame = self.sim.render()
        frame.depth = noisy_depth(frame.depth, self.noise, self._rng)
        self._frames = (self._frames + [frame])[-4:]
        return frame

    def _instances(self, frame: Frame, geoms: list[int]) -> list[dict]:
        out: list[dict] = []
        for g in geoms:
            out += instances_from_segmentation(frame.segmentation, g, 0.95, self.noise, self._rng)
        out.sort(key=lambda inst: -inst["score"])
        return out

    # -- the API ---------------------------------------------------------------------------
    def get_observation(self) -> dict:
        """Capture the current camera view.

        Returns a dict keyed by camera name. obs["robot0_robotview"] holds:
          ["images"]["rgb"]: (H, W, 3) uint8 image, row 0 at the top
          ["images"]["depth"]: (H, W) float32 depth in metres
          ["intrinsics"]: (3, 3) camera matrix K
          ["pose_mat"]: (4, 4) camera-to-world transform, OpenCV convention (z forward, y down);
            world = robot base frame, so pose_mat @ [x, y, z, 1] of a camera point is in world.
        Example:
          obs = get_observation()
          cam = obs["robot0_robotview"]
          rgb, depth = cam["images"]["rgb"], cam["images"]["depth"]
        """
        self._count("get_observation", "perceiving")
        frame = self._capture()
        return {
            CAMERA_NAME: {
                "images": {"rgb": frame.rgb, "depth": frame.depth},
                "intrinsics": frame.intrinsics.copy(),
                "pose_mat": frame.pose_mat.copy(),
            }
        }

    def point_prompt_molmo(self, image: np.ndarray, text_prompt: str) -> dict:
        """Point at the object described by text_prompt in an RGB image.

        Returns {text_prompt: (x, y)}: pixel column x and row y of the object, or (None, None)
        if nothing matches.
        Example:
          pt = point_prompt_molmo(rgb, "red cube")["red cube"]
        """
        self._count("point_prompt_molmo", "perceiving")
        frame = self._frame_for(image)
        geoms = [
            self.sim.scene.object_geom[o.name]
            for o in match_objects(text_prompt, self.sim.task.objects)
        ]
        instances = self._instances(frame, geoms)
        if not instances:
            return {text_prompt: (None, None)}
        rows, cols = np.nonzero(instances[0]["mask"])
        # The mask pixel nearest the centroid, so the point always lies on the object.
        k = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
        return {text_prompt: (int(cols[k]), int(rows[k]))}

    def segment_sam3_text_prompt(self, rgb: np.ndarray, text_prompt: str) -> list[dict]:
        """Segment every instance matching a text prompt in an RGB image.

        Returns a list of dicts, best first: {"mask": (H, W) bool, "box": [x1, y1, x2, y2],
        "score": float}. Empty list if nothing matches.
        Example:
          results = segment_sam3_text_prompt(rgb, "red cube")
          mask = max(results, key=lambda r: r["score"])["mask"]
        """
        self._count("segment_sam3_text_prompt", "perceiving")
        frame = self._frame_for(rgb)
        geoms = [
            self.sim.scene.object_geom[o.name]
            for o in match_objects(text_prompt, self.sim.task.objects)
        ]
        return self._instances(frame, geoms)

    def segment_sam3_point_prompt(self, rgb: np.ndarray, point_coords: tuple) -> list[dict]:
        """Segment the object under a pixel (x, y) of an RGB image.

        Returns a list of {"mask": (H, W) bool, "score": float}; empty if the pixel shows no
        object (table and robot do not count as objects).
        Example:
          masks = segment_sam3_point_prompt(rgb, (120, 88))
        """
        self._count("segment_sam3_point_prompt", "perceiving")
        frame = self._frame_for(rgb)
        x, y = (int(round(float(v))) for v in np.asarray(point_coords).reshape(-1)[:2])
        h, w = frame.segmentation.shape
        if not (0 <= x < w and 0 <= y < h):
            return []
        geom = int(frame.segmentation[y, x])
        if geom not in self.sim.scene.object_geom.values():
            return []
        return [
            {"mask": inst["mask"], "score": inst["score"]}
            for inst in self._instances(frame, [geom])
        ]

    def plan_grasp(
        self, depth: np.ndarray, intrinsics: np.ndarray, segmentation: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Plan parallel-jaw grasps for the object labelled 1/True in segmentation.

        Returns (poses, scores): poses (K, 4, 4) in the CAMERA frame, best first; each pose's
        z axis is the approach direction, its x axis the finger closing direction, and its
        origin is where the tool centre point goes when the fingers close (already shifted
        +0.12 m along z from the gripper base). scores (K,). K = 0 if no grasp is found.
        Example:
          poses, scores = plan_grasp(depth, K, mask)
          grasp_world = pose_mat @ poses[0]
        """
        self._count("plan_grasp", "planning")
        return plan_grasps(depth, intrinsics, segmentation)

    def get_oriented_bounding_box_from_3d_points(self, points: np.ndarray) -> dict:
        """Fit an oriented bounding box to (N, 3) points, robust to outliers.

        Returns {"center": (3,), "extent": (3,) full side lengths, "R": (3, 3) axes as columns}.
        Example:
          box = get_oriented_bounding_box_from_3d_points(world_points)
        """
        self._count("get_oriented_bounding_box_from_3d_points", "planning")
        return geometry.oriented_bounding_box(points)

    def solve_ik(self, position: np.ndarray, quaternion_wxyz: np.ndarray) -> np.ndarray:
        """Joint angles (7,) that put the gripper's tool centre point at a world pose.

        position: (3,) metres in the world (robot base) frame; quaternion_wxyz: (4,) [w, x, y, z]
        orientation of the gripper (z = approach direction, x = finger closing direction).
        Warm-started from the previous solution. Raises ValueError if the pose is out of reach.
        Example:
          q = solve_ik(np.array([0.55, 0.0, 0.05]), np.array([0.0, 1.0, 0.0, 0.0]))
          move_to_joints(q)
        """
        self._count("solve_ik", "planning")
        pos = np.asarray(position, dtype=float).reshape(-1)
        if pos.shape != (3,) or not np.all(np.isfinite(pos)):
            raise ValueError(f"solve_ik: position must be 3 finite numbers, got shape {pos.shape}")
        rot = geometry.quat_wxyz_to_rotation(quaternion_wxyz)
        result = self._ik.solve(pos + self.sim.scene.base_pos, rot, self._last_ik)
        self._last_ik = result.q.copy()
        return result.q.copy()

    def move_to_joints(self, joints: np.ndarray) -> None:
        """Move the arm to 7 joint angles (radians) and block until it gets there.

        Stops when every joint is within 0.02 rad of the target or after 100 control steps.
        Example:
          move_to_joints(solve_ik(position, quat))
        """
        q = np.asarray(joints, dtype=float).reshape(-1)
        if q.shape != (7,) or not np.all(np.isfinite(q)):
            raise ValueError(f"move_to_joints: expected 7 finite joint angles, got shape {q.shape}")
        self._count("move_to_joints", "moving")
        self.sim.move_to_joints(q, on_step=self._notify)
        self._notify()

    def open_gripper(self) -> None:
        """Open the gripper fully (blocking).

        Example:
          open_gripper()
        """
        self._count("open_gripper", "opening gripper")
        self.sim.set_gripper(closed=False)
        self._notify()

    def close_gripper(self) -> None:
        """Close the gripper (blocking); it holds whatever is between the fingers.

        Example:
          close_gripper()
        """
        self._count("close_gripper", "closing gripper")
        self.sim.set_gripper(closed=True)
        self._notify()
