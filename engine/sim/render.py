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


_WARM: dict[tuple[int, int], mujoco.Renderer] = {}
"""Renderers made ahead of time, by (id of the model, image size): the fork server's
(:mod:`engine.sandbox.zygote`), whose workers each inherit their own copy of one."""


def warm_renderer(scene: SceneModel, size: int) -> None:
    """Make (and use once) the renderer a :class:`FrameRenderer` for ``scene`` at ``size`` will
    take instead of creating its own: GL context, uploaded meshes, compiled shaders."""
    key = (id(scene.model), size)
    if key not in _WARM:
        renderer = _new_renderer(scene, size)
        FrameRenderer(scene, size, renderer=renderer).render(mujoco.MjData(scene.model))
        _WARM[key] = renderer


def _new_renderer(scene: SceneModel, size: int) -> mujoco.Renderer:
    try:
        return mujoco.Renderer(scene.model, height=size, width=size)
    except Exception as exc:  # GL failures come as several exception types
        from engine.sim.gl import gl_advice

        backend = os.environ.get("MUJOCO_GL")
        raise UserError(
            f"cannot create an OpenGL context for offscreen rendering (MUJOCO_GL={backend}): "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; " + gl_advice(backend)
        ) from None


class FrameRenderer:
    """Owns the GL context and the render passes for one image size.

    Two passes per frame: colour, then one pass with MuJoCo's segmentation flags whose colour
    buffer holds the geom ids and whose depth buffer gives the depth (``mujoco.Renderer`` takes
    its depth from such a pass too, so the figures are the same as three passes would give).
    The read-back buffers are kept from frame to frame, and a frame asked for again with nothing
    in the scene moved (``obs`` bound before a block, then ``get_observation()`` first thing)
    is a copy of the last one, not a new render."""

    def __init__(
        self, scene: SceneModel, size: int, *, renderer: mujoco.Renderer | None = None
    ) -> None:
        self.scene = scene
        self.size = size
        self._renderer = renderer or _WARM.pop((id(scene.model), size), None)
        if self._renderer is None:
            self._renderer = _new_renderer(scene, size)
        visual = scene.model.ngeom and any(
            scene.model.geom_group[g] == VISUAL_GROUP for g in range(scene.model.ngeom)
        )
        self._option = mujoco.MjvOption()
        self._option.geomgroup[:] = 0
        self._option.geomgroup[SCENE_GROUP] = 1
        self._option.geomgroup[VISUAL_GROUP if visual else COLLISION_GROUP] = 1
        self._option.sitegroup[:] = 0
        self._ids = np.empty((size, size, 3), dtype=np.uint8)
        self._zbuf = np.empty((size, size), dtype=np.float32)
        self._last: tuple[bytes, Frame] | None = None
        self.passes = 0
        """Render passes made (a repeated frame makes none)."""

    def _state(self, data: mujoco.MjData) -> bytes:
        """Everything a frame depends on that can change during an episode."""
        m = self.scene.model
        parts = (data.geom_xpos, data.geom_xmat, data.cam_xpos, data.cam_xmat, data.light_xpos)
        parts += (data.light_xdir, m.geom_size, m.geom_rgba, m.geom_pos, m.geom_quat)
        return b"".join(np.ascontiguousarray(a).tobytes() for a in parts)

    def render(self, data: mujoco.MjData) -> Frame:
        state = self._state(data)
        if self._last is not None and self._last[0] == state:
            return _copy(self._last[1])
        r, cam = self._renderer, self.scene.camera
        r.update_scene(data, camera=cam, scene_option=self._option)
        rgb = r.render()
        self.passes += 1
        depth, ids = self._depth_and_ids(r)
        fovy = float(self.scene.model.cam_fovy[cam])
        frame = Frame(
            rgb=rgb,
            depth=depth,
            segmentation=ids,
            intrinsics=intrinsics_for(fovy, self.size, self.size),
            pose_mat=camera_to_base(self.scene, data),
        )
        self._last = (state, _copy(frame))
        return frame

    def _depth_and_ids(self, r: mujoco.Renderer) -> tuple[np.ndarray, np.ndarray]:
        """Depth (m) and geom ids from one segmentation pass (``mujoco.Renderer``'s own
        arithmetic, which its depth mode applies to the same kind of pass)."""
        scene, ctx, rect = r._scene, r._mjr_context, r._rect
        flags = scene.flags.copy()
        scene.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = True
        scene.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = True
        try:
            if r._gl_context:
                r._gl_context.make_current()
            mujoco.mjr_render(rect, scene, ctx)
            mujoco.mjr_readPixels(self._ids, self._zbuf, rect, ctx)
        finally:
            np.copyto(scene.flags, flags)
        self.passes += 1
        depth = _metric_depth(self._zbuf, self.scene.model, bool(scene.camera[0].orthographic))
        image = self._ids.astype(np.uint32)
        segid = image[..., 0] + image[..., 1] * 2**8 + image[..., 2] * 2**16
        table = np.full(scene.ngeom + 1, -1, dtype=np.int32)
        geom = int(mujoco.mjtObj.mjOBJ_GEOM)
        for g in scene.geoms[: scene.ngeom]:
            if g.segid != -1 and g.objtype == geom:
                table[g.segid + 1] = g.objid
        ids = table[segid]
        return np.flipud(depth).copy(), np.flipud(ids).copy()

    def close(self) -> None:
        self._renderer.close()


def _metric_depth(zbuf: np.ndarray, model: mujoco.MjModel, orthographic: bool) -> np.ndarray:
    """The depth buffer in metres, as ``mujoco.Renderer`` computes it (reversed Z)."""
    extent = model.stat.extent
    zfar = np.float32(model.vis.map.zfar * extent)
    znear = np.float32(model.vis.map.znear * extent)
    z = zbuf.astype(np.float64)
    if orthographic:
        return (zfar - z * (zfar - znear)).astype(np.float32)
    c_coef = -(zfar + znear) / (zfar - znear)
    d_coef = -(np.float32(2) * zfar * znear) / (zfar - znear)
    c_coef = np.float32(-0.5) * c_coef - np.float32(0.5)
    d_coef = np.float32(-0.5) * d_coef
    return (d_coef / (z + c_coef)).astype(np.float32)


def _copy(frame: Frame) -> Frame:
    return Frame(
        rgb=frame.rgb.copy(),
        depth=frame.depth.copy(),
        segmentation=frame.segmentation.copy(),
        intrinsics=frame.intrinsics.copy(),
        pose_mat=frame.pose_mat.copy(),
    )


def render_three_passes(renderer: FrameRenderer, data: mujoco.MjData) -> Frame:
    """The frame as three separate ``mujoco.Renderer`` passes make it (RGB, depth,
    segmentation): the reference the two-pass path is checked and benchmarked against."""
    r, cam = renderer._renderer, renderer.scene.camera
    r.update_scene(data, camera=cam, scene_option=renderer._option)
    rgb = r.render().copy()
    r.enable_depth_rendering()
    depth = r.render().astype(np.float32)
    r.disable_depth_rendering()
    r.enable_segmentation_rendering()
    seg = r.render()
    r.disable_segmentation_rendering()
    ids = np.where(seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), seg[..., 0], -1).astype(np.int32)
    fovy = float(renderer.scene.model.cam_fovy[cam])
    return Frame(
        rgb=rgb,
        depth=depth,
        segmentation=ids,
        intrinsics=intrinsics_for(fovy, renderer.size, renderer.size),
        pose_mat=camera_to_base(renderer.scene, data),
    )
