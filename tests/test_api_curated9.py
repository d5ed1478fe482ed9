"""The curated-9 helpers behave like CaP-X's, checked against independently computed values."""

from __future__ import annotations

import inspect
import math

import numpy as np
from scipy.spatial.transform import Rotation

from engine.api import curated9 as C
from engine.api.curated9 import (
    CURATED9,
    curated9_source,
    decompose_transform,
    depth_to_point_cloud,
    interpolate_segment,
    mask_to_world_points,
    normalize_vector,
    pixel_to_world_point,
    rotation_matrix_to_quaternion,
    select_top_down_grasp,
    transform_points,
)

NAMES = (
    "rotation_matrix_to_quaternion",
    "decompose_transform",
    "depth_to_point_cloud",
    "mask_to_world_points",
    "pixel_to_world_point",
    "transform_points",
    "interpolate_segment",
    "normalize_vector",
    "select_top_down_grasp",
)

PARAMS = {
    "rotation_matrix_to_quaternion": ["R"],
    "decompose_transform": ["T"],
    "depth_to_point_cloud": ["depth_img", "intrinsics"],
    "mask_to_world_points": ["mask", "depth", "intrinsics", "extrinsics"],
    "pixel_to_world_point": ["u", "v", "z", "intrinsics", "extrinsics"],
    "transform_points": ["points", "transform_matrix"],
    "interpolate_segment": ["p1", "p2", "step"],
    "normalize_vector": ["v"],
    "select_top_down_grasp": ["grasps", "scores", "cam_to_world", "vertical_threshold"],
}

K = np.array([[120.0, 0.0, 31.5], [0.0, 110.0, 23.5], [0.0, 0.0, 1.0]])


def random_pose(rng: np.random.Generator) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=rng).as_matrix()
    T[:3, 3] = rng.uniform(-1.0, 1.0, 3)
    return T


def wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    return Rotation.from_quat([x, y, z, w]).as_matrix()


def shepperd_component(R: np.ndarray) -> int:
    """Index in [w, x, y, z] of the component Shepperd's method computes first."""
    if np.trace(R) > 0:
        return 0
    if R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        return 1
    if R[1, 1] > R[2, 2]:
        return 2
    return 3


def near_half_turns(rng: np.random.Generator) -> list[np.ndarray]:
    axes = [np.eye(3)[i] for i in range(3)] + [np.array([1.0, 1.0, 0.0]) / math.sqrt(2)]
    axes += [normalize(rng.normal(size=3)) for _ in range(20)]
    mats = []
    for axis in axes:
        for angle in (math.pi, math.pi - 1e-7, math.pi - 1e-3, math.pi - 0.05):
            mats.append(Rotation.from_rotvec(axis * angle).as_matrix())
    return mats


def normalize(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


# ------------------------------------------------------------------------ the library itself


def test_names_order_and_parameter_names_match_capx() -> None:
    assert tuple(fn.__name__ for fn in CURATED9) == NAMES
    for fn in CURATED9:
        sig = inspect.signature(fn, eval_str=True)
        assert list(sig.parameters) == PARAMS[fn.__name__]
        for p in sig.parameters.values():
            assert p.annotation is not inspect.Parameter.empty, (fn.__name__, p.name)
        assert sig.return_annotation is not inspect.Signature.empty
    assert inspect.signature(interpolate_segment).parameters["step"].default == 0.03
    thr = inspect.signature(select_top_down_grasp).parameters["vertical_threshold"]
    assert thr.default == 0.8


def test_docstrings_have_args_returns_and_doctest_style_example() -> None:
    for fn in CURATED9:
        doc = inspect.getdoc(fn)
        assert doc and "Args:" in doc and "Returns:" in doc, fn.__name__
        example = doc.split("Example:")[-1]
        assert "Example:" in doc and doc.index("Example:") > doc.index("Returns:")
        assert any(line.strip().startswith(">>> ") for line in example.splitlines())
        for param in PARAMS[fn.__name__]:
            assert f"{param}:" in doc.split("Returns:")[0], (fn.__name__, param)


def test_source_execs_into_an_empty_namespace_and_works() -> None:
    source = curated9_source()
    assert source.startswith("import numpy as np\n")
    ns: dict = {}
    exec(compile(source, "<curated9>", "exec"), ns)  # noqa: S102
    for name in NAMES:
        assert callable(ns[name]), name
        assert list(inspect.signature(ns[name]).parameters) == PARAMS[name]
    rng = np.random.default_rng(7)
    T = random_pose(rng)
    pos, quat = ns["decompose_transform"](T)
    assert np.allclose(pos, T[:3, 3]) and np.allclose(wxyz_to_matrix(quat), T[:3, :3])
    depth = rng.uniform(0.5, 1.0, (4, 5))
    cloud = ns["depth_to_point_cloud"](depth_img=depth, intrinsics=K)
    assert cloud.shape == (4, 5, 3)
    world = ns["transform_points"](points=cloud, transform_matrix=T)
    mask = np.ones((4, 5), dtype=bool)
    assert np.allclose(ns["mask_to_world_points"](mask, depth, K, T), world.reshape(-1, 3))
    assert np.allclose(ns["pixel_to_world_point"](2, 3, depth[3, 2], K, T), world[3, 2])
    assert len(ns["interpolate_segment"](np.zeros(3), np.array([0.1, 0, 0]))) == 5
    assert np.allclose(ns["normalize_vector"](np.array([3.0, 0, 4.0])), [0.6, 0, 0.8])
    down = np.diag([1.0, -1.0, -1.0, 1.0])
    best, score = ns["select_top_down_grasp"](down[None], np.array([0.5]), np.eye(4))
    assert np.allclose(best, down) and score == 0.5


def test_source_passes_the_sandbox_policy() -> None:
    from engine.sandbox.policy import check_source

    assert check_source(curated9_source(), "<library>") == []


def test_module_needs_only_numpy() -> None:
    source = curated9_source()
    assert "scipy" not in source and "Rotation" not in source
    assert [line for line in source.splitlines() if line.startswith(("import", "from"))] == [
        "import numpy as np"
    ]
    assert C.np is np


# ------------------------------------------------------------- rotation_matrix_to_quaternion


def test_quaternion_of_random_rotations_is_unit_exact_and_follows_shepperd_sign() -> None:
    rng = np.random.default_rng(0)
    mats = list(Rotation.random(300, random_state=rng).as_matrix()) + near_half_turns(rng)
    branches = set()
    for R in mats:
        q = rotation_matrix_to_quaternion(R)
        assert isinstance(q, np.ndarray) and q.shape == (4,)
        assert np.isclose(np.linalg.norm(q), 1.0, atol=1e-9)
        assert np.allclose(wxyz_to_matrix(q), R, atol=1e-9)
        # agrees with scipy up to the overall sign
        x, y, z, w = Rotation.from_matrix(R).as_quat()
        ref = np.array([w, x, y, z])
        assert min(np.abs(q - ref).max(), np.abs(q + ref).max()) < 1e-7
        k = shepperd_component(R)
        branches.add(k)
        assert q[k] > 0, (R, q)
    assert branches == {0, 1, 2, 3}


def test_quaternion_is_not_flipped_to_nonnegative_w() -> None:
    # a near half-turn about x: w is tiny, x is the Shepperd pivot and must stay positive
    R = Rotation.from_rotvec([-(math.pi - 0.01), 0.0, 0.0]).as_matrix()
    q = rotation_matrix_to_quaternion(R)
    assert shepperd_component(R) == 1 and q[1] > 0
    assert q[0] < 0  # the same rotation with w >= 0 would have x < 0
    x, y, z, w = Rotation.from_matrix(R).as_quat(canonical=True)
    assert np.allclose(q, -np.array([w, x, y, z]))


def test_quaternion_special_cases() -> None:
    assert np.allclose(rotation_matrix_to_quaternion(np.eye(3)), [1, 0, 0, 0])
    assert np.allclose(rotation_matrix_to_quaternion(np.diag([1.0, -1, -1])), [0, 1, 0, 0])
    assert np.allclose(rotation_matrix_to_quaternion(np.diag([-1.0, 1, -1])), [0, 0, 1, 0])
    assert np.allclose(rotation_matrix_to_quaternion(np.diag([-1.0, -1, 1])), [0, 0, 0, 1])
    swap = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, -1]])  # half-turn about (1, 1, 0)/sqrt(2)
    h = math.sqrt(0.5)
    assert np.allclose(rotation_matrix_to_quaternion(swap), [0, h, h, 0])
    assert np.allclose(rotation_matrix_to_quaternion(R=np.eye(3).tolist()), [1, 0, 0, 0])


# ----------------------------------------------------------------------- decompose_transform


def test_decompose_transform_random_poses() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        T = random_pose(rng)
        result = decompose_transform(T=T)
        assert isinstance(result, tuple) and len(result) == 2
        pos, quat = result
        assert pos.shape == (3,) and quat.shape == (4,)
        assert np.array_equal(pos, T[:3, 3])
        assert np.allclose(wxyz_to_matrix(quat), T[:3, :3])
        assert quat[shepperd_component(T[:3, :3])] > 0


# ---------------------------------------------------------------------- depth_to_point_cloud


def loop_point_cloud(depth: np.ndarray, intr: np.ndarray) -> np.ndarray:
    h, w = depth.shape
    out = np.zeros((h, w, 3))
    for v in range(h):
        for u in range(w):
            z = depth[v, u]
            out[v, u] = [(u - intr[0, 2]) * z / intr[0, 0], (v - intr[1, 2]) * z / intr[1, 1], z]
    return out


def test_depth_to_point_cloud_matches_a_pixel_loop() -> None:
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.2, 2.0, (6, 9))
    depth[1, 2] = 0.0
    intr = np.array([[50.0, 0, 4.2], [0, 60.0, 2.7], [0, 0, 1]])
    expected = loop_point_cloud(depth, intr)
    got = depth_to_point_cloud(depth_img=depth, intrinsics=intr)
    assert got.shape == (6, 9, 3)
    assert np.allclose(got, expected)
    assert np.allclose(depth_to_point_cloud(depth[..., None], intr), expected)
    assert np.allclose(depth_to_point_cloud(depth.astype(np.float32), intr), expected, atol=1e-5)


# ---------------------------------------------------------------------- mask_to_world_points


def loop_mask_points(mask, depth, intr, extr) -> np.ndarray:
    pts = []
    h, w = depth.shape[:2]
    for v in range(h):
        for u in range(w):
            z = float(np.asarray(depth[v, u]).reshape(-1)[0])
            if mask[v, u] and z > 0:  # NaN > 0 is False
                cam = [(u - intr[0, 2]) * z / intr[0, 0], (v - intr[1, 2]) * z / intr[1, 1], z, 1]
                pts.append((extr @ np.array(cam))[:3])
    return np.array(pts).reshape(-1, 3)


def test_mask_to_world_points_matches_a_pixel_loop() -> None:
    rng = np.random.default_rng(3)
    for _ in range(10):
        depth = rng.uniform(0.3, 1.5, (7, 8))
        depth[rng.random((7, 8)) < 0.15] = 0.0
        depth[rng.random((7, 8)) < 0.1] = np.nan
        depth[rng.random((7, 8)) < 0.05] = -0.5
        mask = rng.random((7, 8)) < 0.5
        extr = random_pose(rng)
        expected = loop_mask_points(mask, depth, K, extr)
        got = mask_to_world_points(mask=mask, depth=depth, intrinsics=K, extrinsics=extr)
        assert got.shape == expected.shape and got.shape[1] == 3
        assert np.allclose(got, expected)
        assert np.isfinite(got).all()
        # 0/1 integer mask and an (H, W, 1) depth give the same points
        assert np.allclose(mask_to_world_points(mask.astype(int), depth[..., None], K, extr), got)


def test_mask_to_world_points_empty_cases() -> None:
    depth = np.ones((4, 4))
    empty = mask_to_world_points(np.zeros((4, 4), dtype=bool), depth, K, np.eye(4))
    assert isinstance(empty, np.ndarray) and empty.shape == (0, 3)
    mask = np.ones((4, 4), dtype=int)
    bad = np.full((4, 4), np.nan)
    bad[0, 0] = 0.0
    assert mask_to_world_points(mask, bad, K, np.eye(4)).shape == (0, 3)


# ---------------------------------------------------------------------- pixel_to_world_point


def test_pixel_to_world_point_random() -> None:
    rng = np.random.default_rng(4)
    for _ in range(30):
        u, v = int(rng.integers(0, 64)), int(rng.integers(0, 48))
        z = float(rng.uniform(0.2, 2.0))
        extr = random_pose(rng)
        cam = np.array([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z])
        expected = extr[:3, :3] @ cam + extr[:3, 3]
        got = pixel_to_world_point(u=u, v=v, z=z, intrinsics=K, extrinsics=extr)
        assert got.shape == (3,)
        assert np.allclose(got, expected)
    assert np.allclose(pixel_to_world_point(31.5, 23.5, np.float32(2.0), K, np.eye(4)), [0, 0, 2])


# -------------------------------------------------------------------------- transform_points


def test_transform_points_keeps_shapes_and_matches_homogeneous_product() -> None:
    rng = np.random.default_rng(5)
    T = random_pose(rng)
    pts = rng.normal(size=(17, 3))
    expected = np.array([(T @ np.append(p, 1.0))[:3] for p in pts])
    got = transform_points(points=pts, transform_matrix=T)
    assert got.shape == (17, 3) and np.allclose(got, expected)
    cloud = rng.normal(size=(4, 5, 3))
    got = transform_points(cloud, T)
    assert got.shape == (4, 5, 3)
    for v in range(4):
        for u in range(5):
            assert np.allclose(got[v, u], (T @ np.append(cloud[v, u], 1.0))[:3])
    assert transform_points(np.empty((0, 3)), T).shape == (0, 3)
    assert np.allclose(transform_points(pts.tolist(), T.tolist()), expected)


# ----------------------------------------------------------------------- interpolate_segment


def test_interpolate_segment_random() -> None:
    rng = np.random.default_rng(6)
    for _ in range(40):
        p1, p2 = rng.uniform(-0.5, 0.5, 3), rng.uniform(-0.5, 0.5, 3)
        step = float(rng.uniform(0.01, 0.2))
        dist = float(np.linalg.norm(p2 - p1))
        pts = interpolate_segment(p1=p1, p2=p2, step=step)
        assert isinstance(pts, list) and all(p.shape == (3,) for p in pts)
        assert len(pts) == math.ceil(dist / step) + 1
        assert np.allclose(pts[0], p1) and np.allclose(pts[-1], p2)
        gaps = np.linalg.norm(np.diff(np.array(pts), axis=0), axis=1)
        assert np.all(gaps <= step + 1e-12)
        assert np.allclose(gaps, dist / (len(pts) - 1))
        # all points on the segment
        d = normalize(p2 - p1)
        for p in pts:
            off = p - p1
            assert np.allclose(off, np.dot(off, d) * d)
    assert len(interpolate_segment(np.zeros(3), np.array([0.1, 0.0, 0.0]))) == 5  # default step


def test_interpolate_segment_short_and_list_inputs() -> None:
    p = np.array([0.1, 0.2, 0.3])
    for other in (p.copy(), p + 1e-8):
        out = interpolate_segment(p, other)
        assert isinstance(out, list) and len(out) == 1 and np.array_equal(out[0], p)
    out = interpolate_segment([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert isinstance(out, list) and len(out) == 1 and np.allclose(out[0], p)
    out = interpolate_segment([0.0, 0.0, 0.0], [0.0, 0.0, 0.09], step=0.03)
    assert isinstance(out, list) and len(out) == 4
    assert np.allclose(np.array(out)[:, 2], [0.0, 0.03, 0.06, 0.09])


# -------------------------------------------------------------------------- normalize_vector


def test_normalize_vector() -> None:
    rng = np.random.default_rng(8)
    for _ in range(20):
        v = rng.normal(size=3) * rng.uniform(0.01, 10.0)
        got = normalize_vector(v=v)
        assert np.isclose(np.linalg.norm(got), 1.0)
        assert np.allclose(got * np.linalg.norm(v), v)
    tiny = np.array([1e-7, 0.0, 0.0])
    assert normalize_vector(tiny) is tiny
    assert np.array_equal(normalize_vector(np.zeros(3)), np.zeros(3))
    assert np.allclose(normalize_vector([0.0, 3.0, 4.0]), [0, 0.6, 0.8])


# --------------------------------------------------------------------- select_top_down_grasp


def grasp_with_approach(approach_world: np.ndarray, cam_to_world: np.ndarray, pos) -> np.ndarray:
    """A camera-frame grasp whose world-frame z axis is `approach_world`."""
    z = normalize(approach_world)
    helper = np.array([1.0, 0, 0]) if abs(z[0]) < 0.9 else np.array([0, 1.0, 0])
    x = normalize(np.cross(helper, z))
    y = np.cross(z, x)
    world = np.eye(4)
    world[:3, :3] = np.stack([x, y, z], axis=1)
    world[:3, 3] = pos
    return np.linalg.inv(cam_to_world) @ world


def test_select_top_down_grasp_picks_best_vertical_grasp() -> None:
    rng = np.random.default_rng(9)
    for _ in range(20):
        cam_to_world = random_pose(rng)
        n = 12
        tilts = rng.uniform(0.0, math.pi, n)  # angle between approach and straight down
        approaches = []
        for t in tilts:
            az = rng.uniform(0, 2 * math.pi)
            approaches.append(
                np.array([math.sin(t) * math.cos(az), math.sin(t) * math.sin(az), -math.cos(t)])
            )
        grasps = np.stack(
            [grasp_with_approach(a, cam_to_world, rng.normal(size=3)) for a in approaches]
        )
        scores = rng.uniform(0, 1, n)
        alignment = np.cos(tilts)
        ok = alignment > 0.8
        best, score = select_top_down_grasp(
            grasps=grasps, scores=scores, cam_to_world=cam_to_world, vertical_threshold=0.8
        )
        if not ok.any():
            assert best is None and score == -np.inf
            continue
        k = int(np.flatnonzero(ok)[np.argmax(scores[ok])])
        assert score == scores[k]
        assert best.shape == (4, 4)
        assert np.allclose(best, cam_to_world @ grasps[k])
        assert np.allclose(best[:3, 2], approaches[k])


def test_select_top_down_grasp_threshold_is_strict_and_ties_keep_first() -> None:
    cam_to_world = np.eye(4)
    cam_to_world[:3, 3] = [0.5, 0.0, 1.0]
    t = math.acos(0.5)  # alignment exactly 0.5 (up to rounding)
    tilted = grasp_with_approach(np.array([math.sin(t), 0, -math.cos(t)]), cam_to_world, [0, 0, 0])
    alignment = -(cam_to_world @ tilted)[2, 2]
    best, score = select_top_down_grasp(tilted[None], [0.9], cam_to_world, alignment)
    assert best is None and score == -np.inf
    best, score = select_top_down_grasp(tilted[None], [0.9], cam_to_world, alignment - 1e-9)
    assert best is not None and score == 0.9

    down_a = grasp_with_approach(np.array([0, 0, -1.0]), cam_to_world, [0.1, 0, 0])
    down_b = grasp_with_approach(np.array([0, 0, -1.0]), cam_to_world, [0.2, 0, 0])
    best, score = select_top_down_grasp(
        np.stack([down_a, down_b]), np.array([0.7, 0.7]), cam_to_world
    )
    assert np.allclose(best[:3, 3], [0.1, 0, 0]) and score == 0.7
    # a perfectly vertical grasp does not pass a threshold of 1.0 (strict)
    assert select_top_down_grasp(down_a[None], np.array([0.7]), cam_to_world, 1.0)[0] is None


def test_select_top_down_grasp_none_qualify() -> None:
    cam_to_world = np.eye(4)
    up = grasp_with_approach(np.array([0, 0, 1.0]), cam_to_world, [0, 0, 0])
    side = grasp_with_approach(np.array([1.0, 0, 0]), cam_to_world, [0, 0, 0])
    best, score = select_top_down_grasp(np.stack([up, side]), np.array([0.9, 0.8]), cam_to_world)
    assert best is None and score == -np.inf and isinstance(score, float)
    best, score = select_top_down_grasp(np.empty((0, 4, 4)), np.empty(0), cam_to_world)
    assert best is None and score == -np.inf


def test_select_top_down_grasp_uses_the_camera_pose() -> None:
    # camera looking straight down (OpenCV: camera z forward = world down)
    cam_to_world = np.eye(4)
    cam_to_world[:3, :3] = np.diag([1.0, -1.0, -1.0])
    along_optical_axis = np.eye(4)  # gripper z = camera z = world down
    best, score = select_top_down_grasp(along_optical_axis[None], np.array([0.3]), cam_to_world)
    assert best is not None and np.allclose(best[:3, 2], [0, 0, -1]) and score == 0.3
    best, _ = select_top_down_grasp(along_optical_axis[None], np.array([0.3]), np.eye(4))
    assert best is None


def test_annotations_evaluate_to_numpy_and_builtin_types() -> None:
    ann = {
        fn.__name__: {
            **{k: p.annotation for k, p in inspect.signature(fn, eval_str=True).parameters.items()},
            "return": inspect.signature(fn, eval_str=True).return_annotation,
        }
        for fn in CURATED9
    }
    assert ann["rotation_matrix_to_quaternion"] == {"R": np.ndarray, "return": np.ndarray}
    assert ann["decompose_transform"]["return"] == tuple[np.ndarray, np.ndarray]
    assert ann["pixel_to_world_point"]["u"] is int and ann["pixel_to_world_point"]["z"] is float
    assert ann["interpolate_segment"]["step"] is float
    assert ann["interpolate_segment"]["return"] == list[np.ndarray]
    assert ann["select_top_down_grasp"]["vertical_threshold"] is float
    assert ann["select_top_down_grasp"]["return"] is tuple
