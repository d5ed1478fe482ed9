"""Small geometry routines shared by the robot API and the curated helper library."""

from __future__ import annotations

import numpy as np


def depth_to_points(depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """(H, W) metric depth -> (H, W, 3) camera-frame points, OpenCV pinhole convention."""
    depth = np.asarray(depth, dtype=np.float64)
    K = np.asarray(intrinsics, dtype=np.float64)
    h, w = depth.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    x = (u - K[0, 2]) * depth / K[0, 0]
    y = (v - K[1, 2]) * depth / K[1, 1]
    return np.stack([x, y, depth], axis=-1)


def transform_points(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Apply a 4x4 homogeneous transform to (..., 3) points."""
    points = np.asarray(points, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    return points @ T[:3, :3].T + T[:3, 3]


def rotation_to_quat_wxyz(R: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix -> unit quaternion [w, x, y, z] with w >= 0."""
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat()
    q = np.array([w, x, y, z])
    return q if q[0] >= 0 else -q


def quat_wxyz_to_rotation(q: np.ndarray) -> np.ndarray:
    """Quaternion [w, x, y, z] -> 3x3 rotation matrix (normalised first)."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(q, dtype=np.float64).reshape(4)
    if not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-9:
        raise ValueError(f"quaternion must be four finite numbers with non-zero norm, got {q}")
    return Rotation.from_quat([q[1], q[2], q[3], q[0]]).as_matrix()


def oriented_bounding_box(points: np.ndarray) -> dict[str, np.ndarray]:
    """Robust OBB of (N, 3) points: PCA axes on the points within the 2nd-98th percentiles."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if len(pts) < 4:
        raise ValueError(f"need at least 4 finite points for a bounding box, got {len(pts)}")
    med = np.median(pts, axis=0)
    dist = np.linalg.norm(pts - med, axis=1)
    keep = pts[dist <= np.percentile(dist, 95) * 1.5]
    centred = keep - keep.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    R = vt.T
    if np.linalg.det(R) < 0:
        R[:, 2] *= -1
    local = centred @ R
    lo, hi = np.percentile(local, 2, axis=0), np.percentile(local, 98, axis=0)
    centre_local = (lo + hi) / 2
    return {
        "center": keep.mean(axis=0) + R @ centre_local,
        "extent": hi - lo,
        "R": R,
    }
