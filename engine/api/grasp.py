"""Grasp candidates from what the depth camera sees of one segmented object.

Stands in for a learned grasp network: the masked depth pixels are deprojected to camera-frame
points, surface normals come from neighbouring pixels, the visible faces are found by clustering
normals, and each face's in-plane axes come from its minimum-area rectangle. Every face yields
antipodal parallel-jaw grasps approaching against its normal. No ground-truth pose is used.

Pose convention (as CaP-X consumes it): a 4x4 in the camera frame whose z axis is the approach
direction (into the object), whose x axis is the direction the fingers close along, and whose
origin is where the tool centre point should be when the fingers close (CaP-X's +0.12 m shift
along z from the gripper base is already applied).
"""

from __future__ import annotations

import numpy as np

from engine.api.geometry import depth_to_points

MAX_OPENING = 0.08
"""m: the Panda gripper's maximum finger opening."""
MIN_POINTS = 12
_ANGLES = np.deg2rad(np.arange(0.0, 90.0, 1.0))


def _normals(points: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (pointing at the camera) for mask pixels whose right and lower neighbours are in the mask."""
    inner = mask[:-1, :-1] & mask[1:, :-1] & mask[:-1, 1:]
    p = points[:-1, :-1][inner]
    du = points[:-1, 1:][inner] - p
    dv = points[1:, :-1][inner] - p
    n = np.cross(du, dv)
    norm = np.linalg.norm(n, axis=1)
    ok = norm > 1e-12
    n, p = n[ok] / norm[ok, None], p[ok]
    flip = np.einsum("ij,ij->i", n, p) > 0
    n[flip] *= -1
    return n, p


def _face_clusters(normals: np.ndarray, max_faces: int = 3) -> list[np.ndarray]:
    """Greedy clustering of normals into the dominant planar faces (index arrays)."""
    remaining = np.arange(len(normals))
    faces = []
    rng = np.random.default_rng(0)
    while len(remaining) >= MIN_POINTS and len(faces) < max_faces:
        cand = remaining if len(remaining) <= 400 else rng.choice(remaining, 400, replace=False)
        support = (normals[cand] @ normals[remaining].T > 0.97).sum(axis=1)
        seed = normals[cand[np.argmax(support)]]
        members = remaining[normals[remaining] @ seed > 0.95]
        if len(members) < max(MIN_POINTS, 0.05 * len(normals)):
            break
        faces.append(members)
        remaining = np.setdiff1d(remaining, members)
    return faces


def _plane_basis(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([1.0, 0, 0]) if abs(n[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(n, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(n, e1)


def _min_area_rectangle(uv: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Angle, (width_a, width_b) and centre (2,) of the smallest rectangle around 2-D points."""
    c, s = np.cos(_ANGLES), np.sin(_ANGLES)
    a = uv[:, 0, None] * c + uv[:, 1, None] * s
    b = -uv[:, 0, None] * s + uv[:, 1, None] * c
    lo_a, hi_a = np.percentile(a, 1, axis=0), np.percentile(a, 99, axis=0)
    lo_b, hi_b = np.percentile(b, 1, axis=0), np.percentile(b, 99, axis=0)
    k = int(np.argmin((hi_a - lo_a) * (hi_b - lo_b)))
    ca, cb = (lo_a[k] + hi_a[k]) / 2, (lo_b[k] + hi_b[k]) / 2
    centre = np.array([ca * c[k] - cb * s[k], ca * s[k] + cb * c[k]])
    return float(_ANGLES[k]), np.array([hi_a[k] - lo_a[k], hi_b[k] - lo_b[k]]), centre


def plan_grasps(
    depth: np.ndarray, intrinsics: np.ndarray, segmentation: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Grasp poses (K, 4, 4) in the camera frame and scores (K,), best first; empty if nothing graspable."""
    depth = np.asarray(depth, dtype=np.float64)
    seg = np.asarray(segmentation)
    if seg.shape != depth.shape:
        raise ValueError(
            f"plan_grasp: segmentation shape {seg.shape} does not match depth shape {depth.shape}"
        )
    mask = (seg == 1) if seg.dtype != bool else seg
    mask = mask & np.isfinite(depth) & (depth > 0)
    empty = (np.zeros((0, 4, 4)), np.zeros(0))
    if mask.sum() < MIN_POINTS:
        return empty
    points = depth_to_points(depth, intrinsics)
    all_pts = points[mask]
    normals, npts = _normals(points, mask)
    if len(normals) < MIN_POINTS:
        return empty
    poses, scores = [], []
    for members in _face_clusters(normals):
        n = normals[members].mean(axis=0)
        n /= np.linalg.norm(n)
        face = npts[members]
        e1, e2 = _plane_basis(n)
        offset = face @ n
        plane_d = float(np.median(offset))
        uv = np.stack([face @ e1, face @ e2], axis=1)
        angle, widths, centre_uv = _min_area_rectangle(uv)
        a = np.cos(angle) * e1 + np.sin(angle) * e2
        b = np.cross(n, a)
        face_centre = centre_uv[0] * e1 + centre_uv[1] * e2 + plane_d * n
        thickness = float(plane_d - np.percentile(all_pts @ n, 1))
        w_min = float(widths.min())
        depth_along = thickness if thickness >= 0.8 * w_min else w_min
        centre = face_centre - n * depth_along / 2
        support = len(members) / len(normals)
        for axis, width in ((a, widths[0]), (b, widths[1])):
            if width > MAX_OPENING - 0.01:
                continue
            fit = 1.0 - width / MAX_OPENING
            for sign in (1.0, -1.0):
                x = sign * axis
                z = -n
                y = np.cross(z, x)
                T = np.eye(4)
                T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, centre
                poses.append(T)
                scores.append(
                    round(float(0.5 * support + 0.5 * fit) * (1.0 if sign > 0 else 0.98), 4)
                )
    if not poses:
        return empty
    order = np.argsort(-np.asarray(scores), kind="stable")
    return np.asarray(poses)[order], np.asarray(scores)[order]
