"""The CaP-X reduced robot API: ten functions over one simulator, injected into trial code as globals.

Names, signatures (with CaP-X's type annotations), units and frames follow CaP-X's
``FrankaControlApiReduced``: positions in the robot frame, quaternions [w, x, y, z], the camera
pose in OpenCV convention relative to the robot mount, IK targets relative to the arm base and
oriented like the ``panda_hand`` link (z = approach, fingers along ±y). The docstrings are what
the LLM reads: :mod:`engine.api.docs` turns them into the prompt's API section.
"""

from __future__ import annotations

import sys
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
from engine.sim.scene import CAMERA_NAME, TCP_OFFSET
from engine.sim.simulator import FINGER_OPEN, HOME_QPOS, Simulator

StatusListener = Callable[[dict], None]

PRIVILEGED_KEYS = ("cube_poses",)
"""Observation keys that come from the simulator's ground truth, present only when the session
sets ``privileged_observations``."""


def _squeeze_channel(image: np.ndarray) -> np.ndarray:
    """(H, W, 1) -> (H, W); anything else unchanged (CaP-X accepts both)."""
    image = np.asarray(image)
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


class RobotAPI:
    """Binds the ten API functions to one :class:`Simulator`."""

    def __init__(
        self,
        sim: Simulator,
        noise: PerceptionNoise | None = None,
        status_listener: StatusListener | None = None,
        *,
        privileged_observations: bool = False,
    ) -> None:
        self.sim = sim
        self.noise = noise or PerceptionNoise()
        self.status_listener = status_listener
        self.privileged_observations = privileged_observations
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

    def _to_robot_frame(self, pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
        """World pose -> (7,) [x, y, z, qw, qx, qy, qz] relative to the robot mount."""
        return np.concatenate([pos - self.sim.scene.mount_pos, geometry.rotation_to_quat_wxyz(rot)])

    def observation(self, *, depth_channel: bool) -> dict[str, Any]:
        """A fresh observation: the camera view plus the robot's own state (CaP-X's keys).

        ``depth_channel`` keeps depth as (H, W, 1), as in the ``obs`` CaP-X binds before each
        block; ``get_observation()`` squeezes it to (H, W). Object poses are added only with
        ``privileged_observations`` (CaP-X returns them undocumented; here they are opt-in).
        """
        frame = self._capture()
        depth = frame.depth[..., None] if depth_channel else frame.depth
        pose_mat = frame.pose_mat.copy()
        sim = self.sim
        opening = min(1.0, max(0.0, sim.gripper_width() / (2 * FINGER_OPEN)))
        hand_pos, hand_rot = sim.tcp_pose_world()
        hand_pos = hand_pos - hand_rot[:, 2] * TCP_OFFSET
        joints = sim.arm_qpos()
        obs: dict[str, Any] = {
            CAMERA_NAME: {
                "images": {"rgb": frame.rgb, "depth": depth},
                "intrinsics": frame.intrinsics.copy(),
                "pose_mat": pose_mat,
                "pose": np.concatenate(
                    [pose_mat[:3, 3], geometry.rotation_to_quat_wxyz(pose_mat[:3, :3])]
                ),
            },
            "robot0_joint_pos": joints,
            "robot0_gripper_qpos": sim.data.qpos[sim.scene.finger_qpos].copy(),
            "robot_joint_pos": np.concatenate([joints, [opening]]),
            "robot_cartesian_pos": np.concatenate(
                [self._to_robot_frame(hand_pos, hand_rot), [opening]]
            ),
        }
        if self.privileged_observations:
            poses = {
                o.name: self._to_robot_frame(
                    sim.object_pos(o.name), geometry.quat_wxyz_to_rotation(sim.object_quat(o.name))
                )
                for o in sim.task.objects
            }
            obs["cube_poses"] = {"primary": poses[sim.task.primary], **poses}
        return obs

    # -- the API ---------------------------------------------------------------------------
    def get_observation(self) -> dict[str, Any]:
        """Capture the current camera view and the robot's state.

        Returns:
            A dict with these keys:
            - ["robot0_robotview"]["images"]["rgb"]: (H, W, 3) uint8 colour image, row 0 at the top.
            - ["robot0_robotview"]["images"]["depth"]: (H, W) float32 depth in metres.
            - ["robot0_robotview"]["intrinsics"]: (3, 3) float64 camera matrix K.
            - ["robot0_robotview"]["pose_mat"]: (4, 4) float64 camera-to-robot transform, OpenCV
              convention (z forward, y down): pose_mat @ [x, y, z, 1] of a camera point is in the
              robot frame.
            - ["robot_joint_pos"]: (8,) the 7 arm joint angles and the gripper opening (1 = open).
            - ["robot_cartesian_pos"]: (8,) hand position xyz, quaternion wxyz, gripper opening.

        Example:
            >>> obs = get_observation()
            >>> cam = obs["robot0_robotview"]
            >>> rgb, depth = cam["images"]["rgb"], cam["images"]["depth"]
        """
        self._count("get_observation", "perceiving")
        return self.observation(depth_channel=False)

    def point_prompt_molmo(
        self, image: np.ndarray, text_prompt: str
    ) -> dict[str, tuple[int | None, int | None]]:
        """Point at the object a text prompt describes in an RGB image.

        Args:
            image: (H, W, 3) uint8 RGB image.
            text_prompt: what to point at, e.g. "red cube".

        Returns:
            {text_prompt: (x, y)}: pixel column x and row y of the object, or (None, None) if
            nothing matches.

        Example:
            >>> rgb = obs["robot0_robotview"]["images"]["rgb"]
            >>> x, y = point_prompt_molmo(rgb, "red cube")["red cube"]
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

    def segment_sam3_text_prompt(self, rgb: np.ndarray, text_prompt: str) -> list[dict[str, Any]]:
        """Segment every instance that matches a text prompt in an RGB image.

        Args:
            rgb: (H, W, 3) uint8 RGB image.
            text_prompt: the objects to segment, e.g. "red cube".

        Returns:
            A list of dicts, best first, each {"mask": (H, W) bool, "box": [x1, y1, x2, y2],
            "score": float}; empty if nothing matches.

        Example:
            >>> rgb = obs["robot0_robotview"]["images"]["rgb"]
            >>> results = segment_sam3_text_prompt(rgb, "red cube")
            >>> mask = max(results, key=lambda r: r["score"])["mask"]
        """
        self._count("segment_sam3_text_prompt", "perceiving")
        frame = self._frame_for(rgb)
        geoms = [
            self.sim.scene.object_geom[o.name]
            for o in match_objects(text_prompt, self.sim.task.objects)
        ]
        return self._instances(frame, geoms)

    def segment_sam3_point_prompt(
        self, rgb: np.ndarray, point_coords: tuple[float, float]
    ) -> list[dict[str, Any]]:
        """Segment the object under a pixel of an RGB image.

        Args:
            rgb: (H, W, 3) uint8 RGB image.
            point_coords: (x, y) pixel column and row of the point prompt.

        Returns:
            A list of {"mask": (H, W) bool, "score": float}; empty if the pixel shows no object
            (the table and the robot do not count as objects).

        Example:
            >>> masks = segment_sam3_point_prompt(rgb, (x, y))
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
        """Plan parallel-jaw grasp candidates for one segmented object.

        Args:
            depth: depth image in metres, (H, W) or (H, W, 1).
            intrinsics: (3, 3) camera matrix K.
            segmentation: the object's pixels labelled 1 (or True), (H, W) or (H, W, 1).

        Returns:
            grasp_poses: (K, 4, 4) float64 transforms IN THE CAMERA FRAME, best first. Each
                pose's z axis is the approach direction and its x axis points from one contact to
                the other; its origin is where the tool centre point goes when the fingers close
                (already shifted +0.12 m along z from the gripper base).
            grasp_scores: (K,) float64 confidence of each grasp. K = 0 if none is found.

        Example:
            >>> cam = obs["robot0_robotview"]
            >>> grasp_poses, grasp_scores = plan_grasp(
            ...     depth=cam["images"]["depth"], intrinsics=cam["intrinsics"], segmentation=mask
            ... )
            >>> grasp_world = cam["pose_mat"] @ grasp_poses[grasp_scores.argmax()]
        """
        self._count("plan_grasp", "planning")
        return plan_grasps(_squeeze_channel(depth), intrinsics, _squeeze_channel(segmentation))

    def get_oriented_bounding_box_from_3d_points(self, points: np.ndarray) -> dict[str, Any]:
        """Fit an oriented bounding box to 3D points, robust to outliers.

        Args:
            points: (N, 3) points.

        Returns:
            {"center": (3,), "extent": (3,) full side lengths, "R": (3, 3) box axes as columns},
            in the points' frame.

        Example:
            >>> box = get_oriented_bounding_box_from_3d_points(points)
        """
        self._count("get_oriented_bounding_box_from_3d_points", "planning")
        return geometry.oriented_bounding_box(points)

    def solve_ik(self, position: np.ndarray, quaternion_wxyz: np.ndarray) -> np.ndarray:
        """Solve inverse kinematics for the gripper (the panda_hand link).

        Args:
            position: (3,) target of the tool centre point (between the fingertips), metres, in
                the robot frame.
            quaternion_wxyz: (4,) target orientation [w, x, y, z] of the hand: its z axis is the
                approach direction, the fingers open and close along its y axis.

        Returns:
            (7,) float64 joint angles, warm-started from the previous solution. For a target out
            of reach this is the solver's closest configuration, and a warning goes to stderr.

        Example:
            >>> joints = solve_ik(np.array([0.55, 0.0, 0.05]), np.array([0.0, 1.0, 0.0, 0.0]))
            >>> move_to_joints(joints)
        """
        self._count("solve_ik", "planning")
        pos = np.asarray(position, dtype=float).reshape(-1)
        if pos.shape != (3,) or not np.all(np.isfinite(pos)):
            raise ValueError(f"solve_ik: position must be 3 finite numbers, got shape {pos.shape}")
        rot = geometry.quat_wxyz_to_rotation(quaternion_wxyz)
        result = self._ik.solve(pos + self.sim.scene.base_pos, rot, self._last_ik)
        self._last_ik = result.q.copy()
        if not result.reached:
            print(
                f"solve_ik: warning: target not reached, returning the closest solution "
                f"(misses by {result.miss()})",
                file=sys.stderr,
            )
        return result.q.copy()

    def move_to_joints(self, joints: np.ndarray) -> None:
        """Move the arm to a joint configuration, blocking until it gets there.

        Args:
            joints: (7,) target joint angles in radians.

        Stops when the joints are within 0.02 rad of the target or after 100 control steps.

        Example:
            >>> move_to_joints(solve_ik(position, quaternion))
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
            >>> open_gripper()
        """
        self._count("open_gripper", "opening gripper")
        self.sim.set_gripper(closed=False)
        self._notify()

    def close_gripper(self) -> None:
        """Close the gripper fully (blocking); it holds whatever is between the fingers.

        Example:
            >>> close_gripper()
        """
        self._count("close_gripper", "closing gripper")
        self.sim.set_gripper(closed=True)
        self._notify()
