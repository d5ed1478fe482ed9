"""The hand-curated 9-helper library (CaP-X's baseline condition), our own implementations.

These are appended after the ten API functions in the prompt and injected into the trial
namespace, exactly like promoted skills. Each docstring is what the LLM reads.

Behaviour follows CaP-X's ``FrankaControlApiReducedSkillLibrary`` helpers function by function:
the same names, parameter names, return types and shapes, and the same edge cases (e.g. the
quaternion sign of Shepperd's method, ``interpolate_segment`` returning a list, strict
thresholds in ``select_top_down_grasp``). Inputs are additionally accepted as nested lists.

``curated9_source()`` must stay executable on its own: each function uses only ``np`` (and
``decompose_transform`` the quaternion helper defined before it).
"""

from __future__ import annotations

import numpy as np


def rotation_matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """Convert a 3x3 rotation matrix to a unit quaternion [w, x, y, z].

    Uses Shepperd's method: if the trace is positive, w is computed first (and is positive);
    otherwise the component matching the largest diagonal element (x, y or z) is computed first
    and is positive. The sign is not normalised, so w may be negative.

    Args:
        R: (3, 3) rotation matrix.

    Returns:
        (4,) quaternion [w, x, y, z].

    Example:
        >>> quat = rotation_matrix_to_quaternion(grasp_world[:3, :3])
        >>> move_to_joints(solve_ik(grasp_world[:3, 3], quat))
    """
    R = np.asarray(R, dtype=float)
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        w = 0.25 * s
        x = (R[2, 1] - R[1, 2]) / s
        y = (R[0, 2] - R[2, 0]) / s
        z = (R[1, 0] - R[0, 1]) / s
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        w = (R[2, 1] - R[1, 2]) / s
        x = 0.25 * s
        y = (R[0, 1] + R[1, 0]) / s
        z = (R[0, 2] + R[2, 0]) / s
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        w = (R[0, 2] - R[2, 0]) / s
        x = (R[0, 1] + R[1, 0]) / s
        y = 0.25 * s
        z = (R[1, 2] + R[2, 1]) / s
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        w = (R[1, 0] - R[0, 1]) / s
        x = (R[0, 2] + R[2, 0]) / s
        y = (R[1, 2] + R[2, 1]) / s
        z = 0.25 * s
    return np.array([w, x, y, z])


def decompose_transform(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a 4x4 homogeneous transform into its position and its rotation as a quaternion.

    Args:
        T: (4, 4) homogeneous transformation matrix.

    Returns:
        (position, quaternion): position (3,) and quaternion (4,) [w, x, y, z], as given by
        rotation_matrix_to_quaternion.

    Example:
        >>> pos, quat = decompose_transform(grasp_world)
        >>> move_to_joints(solve_ik(pos, quat))
    """
    T = np.asarray(T)
    return T[:3, 3], rotation_matrix_to_quaternion(T[:3, :3])


def depth_to_point_cloud(depth_img: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Back-project every pixel of a depth image to a 3D point in the camera frame.

    Pixel (row v, column u) with depth z becomes ((u - cx) * z / fx, (v - cy) * z / fy, z).

    Args:
        depth_img: (H, W) depth map in metres; an (H, W, 1) map is also accepted.
        intrinsics: (3, 3) camera intrinsic matrix K.

    Returns:
        (H, W, 3) array of camera-frame points, one per pixel.

    Example:
        >>> cam = get_observation()["robot0_robotview"]
        >>> points_cam = depth_to_point_cloud(cam["images"]["depth"], cam["intrinsics"])
        >>> points_world = transform_points(points_cam, cam["pose_mat"])
    """
    depth_img = np.asarray(depth_img)
    if depth_img.ndim == 3:
        depth_img = depth_img[:, :, 0]
    K = np.asarray(intrinsics)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    rows, cols = np.indices(depth_img.shape)
    x = (cols - cx) * depth_img / fx
    y = (rows - cy) * depth_img / fy
    return np.stack([x, y, depth_img], axis=-1)


def mask_to_world_points(
    mask: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray
) -> np.ndarray:
    """World-frame 3D points of the pixels selected by a mask that have a valid depth.

    Pixels where mask > 0 are kept; those whose depth is not > 0 (zero, negative, NaN) are
    dropped.

    Args:
        mask: (H, W) binary mask (bool, or 0/1 integers).
        depth: (H, W) depth map in metres; an (H, W, 1) map is also accepted.
        intrinsics: (3, 3) camera intrinsic matrix K.
        extrinsics: (4, 4) camera-to-world pose matrix (the camera's pose_mat).

    Returns:
        (N, 3) array of world-frame points, one per kept pixel; (0, 3) if none are kept.

    Example:
        >>> cam = get_observation()["robot0_robotview"]
        >>> mask = segment_sam3_text_prompt(cam["images"]["rgb"], "red cube")[0]["mask"]
        >>> pts = mask_to_world_points(mask, cam["images"]["depth"], cam["intrinsics"],
        ...                            cam["pose_mat"])
        >>> center = pts.mean(axis=0)
    """
    rows, cols = np.nonzero(np.asarray(mask) > 0)
    if len(rows) == 0:
        return np.empty((0, 3))
    z = np.asarray(depth)[rows, cols].reshape(-1)
    keep = z > 0
    rows, cols, z = rows[keep], cols[keep], z[keep]
    K = np.asarray(intrinsics)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    points = np.stack([(cols - cx) * z / fx, (rows - cy) * z / fy, z], axis=-1)
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    return (np.asarray(extrinsics) @ homogeneous.T).T[:, :3]


def pixel_to_world_point(
    u: int, v: int, z: float, intrinsics: np.ndarray, extrinsics: np.ndarray
) -> np.ndarray:
    """Back-project one pixel with a known depth to a 3D point in the world frame.

    Args:
        u: pixel column (x).
        v: pixel row (y).
        z: depth at that pixel in metres.
        intrinsics: (3, 3) camera intrinsic matrix K.
        extrinsics: (4, 4) camera-to-world pose matrix (the camera's pose_mat).

    Returns:
        (3,) point [x, y, z] in the world frame.

    Example:
        >>> cam = get_observation()["robot0_robotview"]
        >>> u, v = point_prompt_molmo(cam["images"]["rgb"], "red cube")["red cube"]
        >>> p = pixel_to_world_point(u, v, cam["images"]["depth"][v, u], cam["intrinsics"],
        ...                          cam["pose_mat"])
    """
    K = np.asarray(intrinsics)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    p_cam = np.array([(u - cx) * z / fx, (v - cy) * z / fy, z, 1.0], dtype=float)
    return (np.asarray(extrinsics) @ p_cam)[:3]


def transform_points(points: np.ndarray, transform_matrix: np.ndarray) -> np.ndarray:
    """Apply a 4x4 homogeneous transform to a set of 3D points, keeping the array's shape.

    Args:
        points: (N, 3) list of points or (H, W, 3) organised point cloud.
        transform_matrix: (4, 4) homogeneous transformation matrix.

    Returns:
        Transformed points with the same shape as `points`.

    Example:
        >>> cam = get_observation()["robot0_robotview"]
        >>> points_cam = depth_to_point_cloud(cam["images"]["depth"], cam["intrinsics"])
        >>> points_world = transform_points(points_cam, cam["pose_mat"])  # (H, W, 3)
    """
    points = np.asarray(points)
    flat = points.reshape(-1, 3)
    homogeneous = np.concatenate([flat, np.ones((flat.shape[0], 1))], axis=1)
    moved = (np.asarray(transform_matrix) @ homogeneous.T).T
    return moved[:, :3].reshape(points.shape)


def interpolate_segment(p1: np.ndarray, p2: np.ndarray, step: float = 0.03) -> list[np.ndarray]:
    """Evenly spaced waypoints on the straight line from p1 to p2, both ends included.

    The segment is cut into ceil(length / step) equal pieces, so consecutive waypoints are at
    most `step` apart. A segment shorter than 1e-6 gives just [p1].

    Args:
        p1: (3,) start point.
        p2: (3,) end point.
        step: largest distance between consecutive waypoints, in metres.

    Returns:
        list of (3,) points, starting at p1 and ending at p2.

    Example:
        >>> for p in interpolate_segment(start_pos, goal_pos, step=0.02):
        ...     move_to_joints(solve_ik(p, quat))
    """
    p1, p2 = np.asarray(p1), np.asarray(p2)
    delta = p2 - p1
    length = np.linalg.norm(delta)
    if length < 1e-6:
        return [p1]
    n = int(np.ceil(length / step))
    return [p1 + delta * t for t in np.linspace(0.0, 1.0, n + 1)]


def normalize_vector(v: np.ndarray) -> np.ndarray:
    """Scale a vector to unit length.

    Args:
        v: (3,) vector.

    Returns:
        (3,) unit vector along v; v itself, unchanged, if its norm is below 1e-6.

    Example:
        >>> approach = normalize_vector(target_pos - start_pos)
        >>> pre_grasp = target_pos - 0.1 * approach
    """
    v = np.asarray(v)
    norm = np.linalg.norm(v)
    if norm < 1e-6:
        return v
    return v / norm


def select_top_down_grasp(
    grasps: np.ndarray,
    scores: np.ndarray,
    cam_to_world: np.ndarray,
    vertical_threshold: float = 0.8,
) -> tuple:
    """Pick the highest-scoring grasp whose gripper approaches from above.

    Each grasp is moved to the world frame (cam_to_world @ grasp). Its approach direction is
    the gripper z axis (third column of the rotation); the grasp qualifies when the dot product
    of that axis with world down [0, 0, -1] is strictly greater than vertical_threshold. Among
    qualifying grasps the first one with the highest score wins.

    Args:
        grasps: (N, 4, 4) grasp poses in the camera frame, e.g. from plan_grasp.
        scores: (N,) grasp scores.
        cam_to_world: (4, 4) camera-to-world pose matrix (the camera's pose_mat).
        vertical_threshold: minimum alignment with straight down (1.0 is perfectly vertical).

    Returns:
        (best_grasp_world, best_score): the chosen (4, 4) world-frame grasp and its score, or
        (None, -inf) if no grasp qualifies.

    Example:
        >>> poses, scores = plan_grasp(cam["images"]["depth"], cam["intrinsics"], mask)
        >>> grasp_world, score = select_top_down_grasp(poses, scores, cam["pose_mat"])
        >>> if grasp_world is not None:
        ...     pos, quat = decompose_transform(grasp_world)
    """
    cam_to_world = np.asarray(cam_to_world)
    best_grasp = None
    best_score = -np.float64("inf")
    world_up = np.array([0.0, 0.0, 1.0])
    for i, grasp_cam in enumerate(grasps):
        grasp_world = cam_to_world @ np.asarray(grasp_cam)
        alignment = -np.dot(grasp_world[:3, 2], world_up)  # approach axis . world down
        if alignment > vertical_threshold and scores[i] > best_score:
            best_grasp, best_score = grasp_world, scores[i]
    return best_grasp, best_score


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
