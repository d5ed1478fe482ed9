"""The hand-curated 9-helper library (CaP-X's baseline condition), our own implementations.

These are appended after the ten API functions in the prompt and injected into the trial
namespace, exactly like promoted skills. Each docstring is what the LLM reads.
"""

from __future__ import annotations

import numpy as np


def rotation_matrix_to_quaternion(R):
    """Convert a 3x3 rotation matrix to a quaternion [w, x, y, z].

    Example:
      quat = rotation_matrix_to_quaternion(grasp_world[:3, :3])
    """
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(np.asarray(R, dtype=float)).as_quat()
    q = np.array([w, x, y, z])
    return q if q[0] >= 0 else -q


def decompose_transform(T):
    """Split a 4x4 transform into (position (3,), quaternion [w, x, y, z]).

    Example:
      pos, quat = decompose_transform(grasp_world)
    """
    T = np.asarray(T, dtype=float)
    return T[:3, 3].copy(), rotation_matrix_to_quaternion(T[:3, :3])


def depth_to_point_cloud(depth, intrinsics):
    """Deproject an (H, W) depth image to (H, W, 3) points in the camera frame.

    Example:
      points = depth_to_point_cloud(depth, K)
    """
    depth = np.asarray(depth, dtype=float)
    K = np.asarray(intrinsics, dtype=float)
    h, w = depth.shape
    u, v = np.meshgrid(np.arange(w), np.arange(h))
    x = (u - K[0, 2]) * depth / K[0, 0]
    y = (v - K[1, 2]) * depth / K[1, 1]
    return np.stack([x, y, depth], axis=-1)


def transform_points(points, T):
    """Apply a 4x4 transform to (N, 3) points; returns (N, 3).

    Example:
      world_points = transform_points(camera_points, pose_mat)
    """
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    T = np.asarray(T, dtype=float)
    return points @ T[:3, :3].T + T[:3, 3]


def mask_to_world_points(mask, depth, intrinsics, extrinsics):
    """World-frame points (N, 3) of the pixels in a boolean mask with valid depth.

    extrinsics is the camera-to-world pose_mat.
    Example:
      pts = mask_to_world_points(mask, depth, K, pose_mat)
    """
    mask = np.asarray(mask, dtype=bool)
    depth = np.asarray(depth, dtype=float)
    valid = mask & np.isfinite(depth) & (depth > 0)
    points = depth_to_point_cloud(depth, intrinsics)[valid]
    return transform_points(points, extrinsics)


def pixel_to_world_point(u, v, z, intrinsics, extrinsics):
    """World-frame point (3,) of pixel column u, row v at depth z (metres).

    Example:
      p = pixel_to_world_point(x, y, depth[y, x], K, pose_mat)
    """
    K = np.asarray(intrinsics, dtype=float)
    cam = np.array([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z])
    return transform_points(cam[None], extrinsics)[0]


def interpolate_segment(p1, p2, step=0.03):
    """Waypoints from p1 to p2 (both included) at most `step` metres apart; returns (K, 3).

    Example:
      for p in interpolate_segment(start, goal):
          move_to_joints(solve_ik(p, quat))
    """
    p1, p2 = np.asarray(p1, dtype=float), np.asarray(p2, dtype=float)
    n = max(1, int(np.ceil(np.linalg.norm(p2 - p1) / step)))
    return np.linspace(p1, p2, n + 1)


def normalize_vector(v):
    """Unit vector along v (v unchanged if its norm is ~0).

    Example:
      approach = normalize_vector(target - start)
    """
    v = np.asarray(v, dtype=float)
    n = np.linalg.norm(v)
    return v if n < 1e-12 else v / n


def select_top_down_grasp(grasps, scores, cam_to_world, vertical_threshold=0.8):
    """Best grasp whose approach axis points down in the world: (world 4x4, score) or (None, -inf).

    grasps: (K, 4, 4) camera-frame poses from plan_grasp; cam_to_world: pose_mat.
    Example:
      grasp_world, score = select_top_down_grasp(poses, scores, pose_mat)
    """
    best, best_score = None, -np.inf
    for grasp, score in zip(grasps, scores, strict=False):
        world = np.asarray(cam_to_world, dtype=float) @ np.asarray(grasp, dtype=float)
        if -world[2, 2] >= vertical_threshold and score > best_score:
            best, best_score = world, float(score)
    return best, best_score


CURATED9 = (
    rotation_matrix_to_quaternion,
    decompose_transform,
    depth_to_point_cloud,
    mask_to_world_points,
    pixel_to_world_point,
    transform_points,
    interpolate_segment,
    normalize_vector,
    select_top_down_grasp,
)
"""In the order CaP-X lists them."""


def curated9_source() -> str:
    """Source of the nine helpers, for executing them into a sandboxed namespace."""
    import inspect

    body = "\n\n".join(inspect.getsource(fn) for fn in CURATED9)
    return "import numpy as np\n\n" + body
