"""On-demand camera frames: RGB, metric depth and geom segmentation from ``robot0_robotview``.

Frames carry the OpenCV-convention intrinsics and camera-to-base transform that CaP-X programs
expect, so deprojected depth points land directly in the robot base frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import mujoco
import numpy as np

from engine.errors import UserError
from engine.sim.scene import COLLISION_GROUP, SCENE_GROUP, VISUAL_GROUP, SceneModel

# MuJoCo cameras look down -z with y up; OpenCV cameras look down +z with y down.
_MJ_TO_CV = np.diag([1.0, -1.0, -1.0])


@dataclass
class Frame:
    """One rendered view. ``segmentation`` holds geom ids (-1 = background)."""

    rgb: np.ndarray
    depth: np.ndarray
    segmentation: np.ndarray
    intrinsics: np.ndarray
    pose_mat: np.ndarray


def intrinsics_for(fovy_deg: float, width: int, height: int) -> np.ndarray:
    """K = [[f,0,W/2],[0,f,H/2],[0,0,1]] with f = 0.5 H / tan(fovy/2)."""
    f = 0.5 * height / np.tan(np.deg2rad(fovy_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])


def camera_to_base(scene: SceneModel, data: mujoco.MjData) -> np.ndarray:
    """4x4 camera-to-robot transform in OpenCV convention, relative to the robot mount as in
    CaP-X (1 cm above the arm base that IK targets are relative to; see ``MOUNT_OFFSET_Z``)."""
    cam = scene.camera
    T = np.eye(4)
    T[:3, :3] = data.cam_xmat[cam].reshape(3, 3) @ _MJ_TO_CV
    T[:3, 3] = data.cam_xpos[cam] - scene.mount_pos
    return T


class FrameRenderer:
    """Owns the GL context and the three render passes for one image size."""

    def __init__(self, scene: SceneModel, size: int) -> None:
        self.scene = scene
        self.size = size
        try:
            self._renderer = mujoco.Renderer(scene.model, height=size, width=size)
        except Exception as exc:  # GL failures come as several exception types
            from engine.sim.gl import gl_advice

            backend = os.environ.get("MUJOCO_GL")
            raise UserError(
                f"cannot create an OpenGL context for offscreen rendering (MUJOCO_GL={backend}): "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                + gl_advice(backend)
            ) from None
        visual = scene.model.ngeom and any(
            scene.model.geom_group[g] == VISUAL_GROUP for g in range(scene.model.ngeom)
        )
        self._option = mujoco.MjvOption()
        self._option.geomgroup[:] = 0
        self._option.geomgroup[SCENE_GROUP] = 1
        self._option.geomgroup[VISUAL_GROUP if visual else COLLISION_GROUP] = 1
        self._option.sitegroup[:] = 0

    def render(self, data: mujoco.MjData) -> Frame:
        r, cam = self._renderer, self.scene.camera
        r.update_scene(data, camera=cam, scene_option=self._option)
        rgb = r.render().copy()
        r.enable_depth_rendering()
        depth = r.render().astype(np.float32)
        r.disable_depth_rendering()
        r.enable_segmentation_rendering()
        seg = r.render()
        r.disable_segmentation_rendering()
        ids = np.where(seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), seg[..., 0], -1).astype(
            np.int32
        )
        fovy = float(self.scene.model.cam_fovy[cam])
        return Frame(
            rgb=rgb,
            depth=depth,
            segmentation=ids,
            intrinsics=intrinsics_for(fovy, self.size, self.size),
            pose_mat=camera_to_base(self.scene, data),
        )

    def close(self) -> None:
        self._renderer.close()
