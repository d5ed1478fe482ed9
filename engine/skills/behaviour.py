"""Behavioural dedup: two candidates are the same skill when they *do* the same thing.

Structural hashing merges functions whose ASTs differ only in names and constants, which is
wrong exactly where constants are the behaviour (an offset of 0.10 m vs 0.15 m), and misses
functions written differently that compute the same. Here each candidate runs in the sandbox
(a :class:`~engine.sandbox.worker.SandboxWorker` whose environment is :class:`ProbeEnv`, a
recording stand-in of the robot API) on a few deterministic probe scenes, and is fingerprinted
by what it returns and which API calls it makes with which arguments:

- **Probe inputs.** Sessions do not record observations, so the probes are deterministic
  synthetic scenes (:func:`probe_scene`): a depth image of a table with a box on it, its mask,
  an RGB image, the intrinsics and camera pose, grasp poses and scores, 3D points, a target
  position, a quaternion, joint angles, in CaP-X's shapes and frames. Each parameter of a
  candidate gets the probe value its name asks for (``depth``, ``mask``, ``K``, ``pose``,
  ``quat``, ``points``, ``grasps`` ...; see :data:`PARAMETER_RULES`), else its default, else a
  number. numpy's global random state is seeded before each call.
- **Recording stand-in.** The ten API functions return the probe scene's values (the mask for
  a segmentation of a cube, the scene's grasps, a joint vector that is a fixed smooth function
  of the IK target) and record each call with its arguments bound to the API's parameter
  names, so ``plan_grasp(d, K, m)`` and ``plan_grasp(depth=d, intrinsics=K, segmentation=m)``
  are the same call.
- **Fingerprint.** Per probe: the canonical return value (arrays rounded to 6 decimals, their
  shape and kind) or the exception's type, and the call log; hashed together over all probes.
  A candidate whose every probe raised, or that returned nothing and called nothing, is
  *uninformative*: it is never merged with anything (three TypeErrors say nothing about
  behaviour).
- **Clusters.** Equal informative fingerprints form a cluster; the survivor is chosen by the
  configured survivor rule (:data:`engine.skills.quality.SURVIVOR_RULES`), and each cluster
  carries the reason its members were judged the same (what they returned and called).

The library of the pool (one variant per name, best first) is seeded into the worker, so a
candidate that calls another candidate finds it, whatever order they are probed in.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from engine.api.names import API_NAMES
from engine.skills import quality as q
from engine.skills.mining import Candidate

PROBES = 3
"""Probe scenes per candidate."""
PROBE_TIMEOUT_S = 5.0
"""Wall-clock limit per candidate (all its probes); a candidate past it is uninformative."""
SIZE = 32
"""Probe images are SIZE x SIZE (small: a candidate's behaviour, not its speed, is measured)."""


# ------------------------------------------------------------------ probe scenes
def _quat(angle: float) -> np.ndarray:
    """[w, x, y, z] of a top-down gripper (180 degrees about x), then ``angle`` about z."""
    c, s = math.cos(angle / 2), math.sin(angle / 2)
    return np.array([0.0, c, s, 0.0])


def probe_scene(case: int) -> dict:
    """A deterministic probe scene ``case`` (0, 1, 2 ...): everything a candidate may be given."""
    rng = np.random.default_rng(1000 + case)
    h = w = SIZE
    f = 0.5 * h / math.tan(math.radians(45) / 2)
    intrinsics = np.array([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]])
    u0, v0 = 10 + 3 * case, 12 + 2 * case
    size = 6 + case
    depth = (0.50 + 0.002 * np.arange(h)[:, None] + np.zeros((h, w))).astype(np.float32)
    mask = np.zeros((h, w), dtype=bool)
    mask[v0 : v0 + size, u0 : u0 + size] = True
    depth[mask] -= 0.04
    rgb = np.full((h, w, 3), 120, dtype=np.uint8)
    rgb[mask] = (200, 30, 30)
    pose_mat = np.eye(4)
    pose_mat[:3, :3] = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    pose_mat[:3, 3] = (0.45 + 0.01 * case, 0.0, 0.39)
    cz = float(depth[v0 + size // 2, u0 + size // 2])
    cx = (u0 + size / 2 - w / 2) * cz / f
    cy = (v0 + size / 2 - h / 2) * cz / f
    center_cam = np.array([cx, cy, cz])
    grasps = np.repeat(np.eye(4)[None], 4, axis=0)
    for k in range(4):
        yaw = k * math.pi / 4 + 0.1 * case
        grasps[k, :3, :3] = np.array(
            [[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0], [0, 0, 1]]
        )
        grasps[k, :3, 3] = center_cam + np.array([0.0, 0.0, 0.01 * k])
    scores = np.array([0.9, 0.7, 0.5, 0.3]) - 0.05 * case
    points = center_cam + rng.normal(0, 0.01, (40, 3))
    position = np.array([0.05 + 0.02 * case, -0.03 + 0.01 * case, 0.02 + 0.01 * case])
    quat = _quat(0.3 * case)
    joints = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 2.0, 0.8]) + 0.05 * case
    camera = {
        "images": {"rgb": rgb, "depth": depth},
        "intrinsics": intrinsics,
        "pose_mat": pose_mat,
        "pose": np.concatenate([pose_mat[:3, 3], [0.0, 0.7071, -0.7071, 0.0]]),
    }
    obs = {
        "robot0_robotview": camera,
        "robot0_joint_pos": joints,
        "robot0_gripper_qpos": np.array([0.04, -0.04]),
        "robot_joint_pos": np.concatenate([joints, [1.0]]),
        "robot_cartesian_pos": np.concatenate([position + [0, 0, 0.2], quat, [1.0]]),
    }
    rotation = grasps[0, :3, :3] @ np.array([[1, 0, 0], [0, -1, 0], [0, 0, -1.0]])
    return {
        "case": case,
        "obs": obs,
        "rgb": rgb,
        "depth": depth,
        "mask": mask,
        "intrinsics": intrinsics,
        "pose_mat": pose_mat,
        "grasps": grasps,
        "scores": scores,
        "grasp": grasps[0],
        "points": points,
        "position": position,
        "quat": quat,
        "rotation": rotation,
        "joints": joints,
        "pixel": (u0 + size // 2, v0 + size // 2),
        "text": "red cube",
        "scalar": 0.1 + 0.05 * case,
        "count": 3 + case,
        "flag": True,
    }


PARAMETER_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("obs", "observation", "observations", "inputs"), "obs"),
    (("depth", "depth_image", "depth_map", "dep"), "depth"),
    (("mask", "seg", "segmentation", "segment", "binary_mask"), "mask"),
    (("rgb", "image", "img", "color", "colour", "frame"), "rgb"),
    (("intrinsics", "k", "cam_k", "camera_matrix", "intr", "intrinsic"), "intrinsics"),
    (
        (
            "pose_mat",
            "extrinsics",
            "cam_pose",
            "camera_pose",
            "cam_to_world",
            "t_cam",
            "t",
            "transform",
            "pose_matrix",
            "cam2world",
            "camera_to_robot",
            "tf",
        ),
        "pose_mat",
    ),
    (("grasp_poses", "grasps", "poses", "candidates"), "grasps"),
    (("grasp_scores", "scores", "score", "confidences"), "scores"),
    (("grasp", "grasp_pose", "pose", "world_grasp", "grasp_world", "g"), "grasp"),
    (("points", "pts", "cloud", "point_cloud", "pc", "xyz_points"), "points"),
    (
        (
            "position",
            "pos",
            "target",
            "target_pos",
            "point",
            "xyz",
            "p",
            "center",
            "centre",
            "goal",
            "location",
            "v",
            "vec",
            "vector",
            "x",
            "offset_vec",
        ),
        "position",
    ),
    (
        ("quat", "quaternion", "quat_wxyz", "quaternion_wxyz", "orientation", "q_wxyz", "qwxyz"),
        "quat",
    ),
    (("r", "rot", "rotation", "rotmat", "rot_mat", "m", "matrix", "mat"), "rotation"),
    (("joints", "q", "joint_positions", "qpos", "joint_pos", "config", "q_now"), "joints"),
    (("pixel", "uv", "point_coords", "px", "coords"), "pixel"),
    (("text", "prompt", "text_prompt", "name", "label", "object_name", "query", "obj"), "text"),
    (
        ("n", "num", "count", "steps", "k_best", "iterations", "n_steps", "max_tries", "retries"),
        "count",
    ),
    (("flag", "verbose", "debug"), "flag"),
)
"""Parameter names (lower case) -> which probe value a candidate gets for them."""
_RULES = {name: key for names, key in PARAMETER_RULES for name in names}


def arguments(fn: Callable, scene: dict) -> tuple[list, dict]:
    """(positional, keyword) probe arguments for ``fn``: by parameter name, else its default,
    else the scene's scalar; *args and **kwargs get nothing."""
    args: list = []
    kwargs: dict = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        key = _RULES.get(p.name.lower())
        if key is None and p.default is not p.empty:
            continue  # its default
        value = _copy(scene[key]) if key else scene["scalar"]
        if p.kind == p.KEYWORD_ONLY:
            kwargs[p.name] = value
        else:
            args.append(value)
    return args, kwargs


def _copy(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------- canonical values
def canonical(value: object, depth: int = 0) -> object:
    """A hashable, order-stable summary of a value: floats to 6 decimals, arrays by shape, kind
    and rounded contents; anything exotic by its type name."""
    if depth > 6:
        return "..."
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | np.floating):
        x = float(value)
        return "nan" if math.isnan(x) else round(x, 6) + 0.0
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            data = np.round(np.nan_to_num(value.astype(float), nan=1e300), 6) + 0.0
        elif value.dtype.kind in "biu":
            data = value.astype(np.int64)
        else:
            return ("array", value.shape, value.dtype.kind)
        return ("array", value.shape, hashlib.sha256(data.tobytes()).hexdigest()[:16])
    if isinstance(value, list | tuple):
        return ("seq", tuple(canonical(v, depth + 1) for v in value[:256]), len(value))
    if isinstance(value, dict):
        items = sorted(((str(k), canonical(v, depth + 1)) for k, v in value.items()))
        return ("dict", tuple(items))
    return ("object", type(value).__name__)


def describe(value: object) -> str:
    """A short human description of a returned value (for the reasons)."""
    if isinstance(value, np.ndarray):
        return f"array{tuple(value.shape)}"
    if isinstance(value, list | tuple):
        return f"{type(value).__name__} of {len(value)}"
    if isinstance(value, dict):
        return "dict(" + ", ".join(sorted(str(k) for k in value)[:4]) + ")"
    if isinstance(value, float):
        return f"{value:.4g}"
    return type(value).__name__ if value is not None else "None"


# ---------------------------------------------------------- the recording stand-in
class ProbeEnv:
    """The sandbox environment of behavioural probing: the robot API as a recording stand-in,
    and ``probe(fn)``, which runs a candidate on every probe scene and keeps its fingerprint
    for :meth:`summary` (how the result leaves the worker)."""

    def __init__(self, probes: int = PROBES) -> None:
        self.scenes = [probe_scene(i) for i in range(probes)]
        self.scene = self.scenes[0]
        self.log: list[tuple] = []
        self.result: dict = {}
        self.api_names = API_NAMES
        self.namespace: dict = {name: getattr(self, name) for name in API_NAMES}
        self.namespace.update({"np": np, "math": math, "probe": self.probe})
        self._signatures = {name: inspect.signature(getattr(self, name)) for name in API_NAMES}

    def _record(self, name: str, *args: object, **kwargs: object) -> None:
        try:
            bound = self._signatures[name].bind(*args, **kwargs)
            values = tuple((k, canonical(v)) for k, v in bound.arguments.items())
        except TypeError:
            values = (("invalid", canonical((args, kwargs))),)
        self.log.append((name, values))

    # the ten API functions, with CaP-X's parameter names
    def get_observation(self) -> dict:
        self._record("get_observation")
        return _copy(self.scene["obs"])  # type: ignore[return-value]

    def point_prompt_molmo(self, image: object, text_prompt: str) -> dict:
        self._record("point_prompt_molmo", image, text_prompt)
        hit = any(w in str(text_prompt).lower() for w in ("cube", "block", "red"))
        return {text_prompt: self.scene["pixel"] if hit else (None, None)}

    def segment_sam3_text_prompt(self, rgb: object, text_prompt: str) -> list:
        self._record("segment_sam3_text_prompt", rgb, text_prompt)
        if not any(w in str(text_prompt).lower() for w in ("cube", "block", "red")):
            return []
        rows, cols = np.nonzero(self.scene["mask"])
        box = [int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())]
        return [{"mask": self.scene["mask"].copy(), "box": box, "score": 0.97}]

    def segment_sam3_point_prompt(self, rgb: object, point_coords: object) -> list:
        self._record("segment_sam3_point_prompt", rgb, point_coords)
        try:
            x, y = (int(round(float(v))) for v in np.asarray(point_coords).reshape(-1)[:2])
        except (TypeError, ValueError):
            return []
        mask = self.scene["mask"]
        if 0 <= y < mask.shape[0] and 0 <= x < mask.shape[1] and mask[y, x]:
            return [{"mask": mask.copy(), "score": 0.95}]
        return []

    def plan_grasp(self, depth: object, intrinsics: object, segmentation: object) -> tuple:
        self._record("plan_grasp", depth, intrinsics, segmentation)
        return self.scene["grasps"].copy(), self.scene["scores"].copy()

    def get_oriented_bounding_box_from_3d_points(self, points: object) -> dict:
        self._record("get_oriented_bounding_box_from_3d_points", points)
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return {"center": (lo + hi) / 2, "extent": hi - lo, "R": np.eye(3)}

    def solve_ik(self, position: object, quaternion_wxyz: object) -> np.ndarray:
        self._record("solve_ik", position, quaternion_wxyz)
        p = np.asarray(position, dtype=float).reshape(-1)[:3]
        quat = np.asarray(quaternion_wxyz, dtype=float).reshape(-1)[:4]
        return np.array([0.0, -0.3, 0.0, -2.2, 0.0, 2.0, 0.8]) + 0.1 * np.concatenate([p, quat])

    def move_to_joints(self, joints: object) -> None:
        self._record("move_to_joints", joints)

    def open_gripper(self) -> None:
        self._record("open_gripper")

    def close_gripper(self) -> None:
        self._record("close_gripper")

    # the harness
    def probe(self, fn: Callable) -> None:
        """Run ``fn`` on every probe scene; its fingerprint becomes :meth:`summary`."""
        cases = []
        for scene in self.scenes:
            self.scene, self.log = scene, []
            np.random.seed(scene["case"])
            try:
                args, kwargs = arguments(fn, scene)
                value = fn(*args, **kwargs)
                out = ("returned", canonical(value))
                text = "returned " + describe(value)
            except Exception as exc:  # noqa: BLE001 (what it raises is part of its behaviour)
                out = ("raised", type(exc).__name__)
                text = "raised " + type(exc).__name__
            calls = tuple(self.log)
            names = [c[0] for c in calls]
            text += ", calls " + (", ".join(names[:6]) if names else "nothing")
            cases.append(
                {
                    "key": repr((out, calls)),
                    "text": text,
                    "raised": out[0] == "raised",
                    "silent": out == ("returned", None) and not calls,
                }
            )
        digest = hashlib.sha256("\n".join(c["key"] for c in cases).encode()).hexdigest()[:16]
        informative = not all(c["raised"] or c["silent"] for c in cases)
        self.result = {
            "digest": digest,
            "cases": [c["text"] for c in cases],
            "informative": informative,
        }

    def status(self) -> dict:
        return {}

    def summary(self) -> dict:
        out, self.result = self.result, {}
        return {"fingerprint": out}


def build_probe_env(probes: int = PROBES) -> ProbeEnv:
    """Namespace factory for the sandbox worker (``engine.skills.behaviour:build_probe_env``)."""
    return ProbeEnv(probes)


# ------------------------------------------------------------------- fingerprints
@dataclass(frozen=True)
class Fingerprint:
    digest: str
    cases: tuple[str, ...]
    """What it did on each probe scene, in words."""
    informative: bool
    """False: every probe raised, or it returned None and called nothing, or it could not be
    run (then ``error`` says why); never merged with anything."""
    error: str = ""


def _probe_block(c: Candidate) -> str:
    return f"import numpy as np\nimport math\n\n{c.info.source.strip()}\n\nprobe({c.name})\n"


async def _fingerprint_async(
    candidates: list[Candidate], probes: int, timeout_s: float, library: str
) -> dict[str, Fingerprint]:
    from engine.sandbox.worker import SandboxError, SandboxWorker

    def worker() -> SandboxWorker:
        w = SandboxWorker("engine.skills.behaviour:build_probe_env", {"probes": probes})
        w.seed_code = library
        # a fresh interpreter, not a fork of a zygote: the probe environment needs no simulator,
        # and this runs on a short-lived event loop of its own (see fingerprint_all)
        w.use_fork_server = False
        return w

    out: dict[str, Fingerprint] = {}
    current = worker()
    try:
        try:
            await current.start()
        except SandboxError:  # the pool's library does not seed: probe each on its own
            current = worker()
            current.seed_code = ""
            await current.start()
        for c in candidates:
            result = await current.run_block(
                _probe_block(c), name=f"<probe {c.name}>", timeout_s=timeout_s
            )
            fp = (result.summary or {}).get("fingerprint") or {}
            if result.killed or not fp:
                why = result.killed or result.violation or result.exception or "no fingerprint"
                out[c.id] = Fingerprint("error-" + c.id, (), False, why)
                if result.killed:
                    await current.restart()
                continue
            out[c.id] = Fingerprint(fp["digest"], tuple(fp["cases"]), bool(fp["informative"]))
    finally:
        await current.close()
    return out


def fingerprint_all(
    candidates: Iterable[Candidate],
    probes: int = PROBES,
    timeout_s: float = PROBE_TIMEOUT_S,
    context: Iterable[Candidate] | None = None,
) -> dict[str, Fingerprint]:
    """Fingerprint every candidate in one sandbox worker, seeded with the library of
    ``context`` (default: the candidates themselves; one variant per name) so calls between
    candidates resolve; safe to call from inside a running event loop."""
    from engine.sandbox.policy import check_source
    from engine.skills.conditions import skill_of
    from engine.skills.library import seeding_source

    items = list(candidates)
    if not items:
        return {}
    pool = list(context) if context is not None else items
    seedable = [c for c in q.unique_names(pool) if not check_source(c.info.source, "<seed>")]
    library = seeding_source([skill_of(c) for c in seedable]) if seedable else ""

    def run() -> dict[str, Fingerprint]:
        return asyncio.run(_fingerprint_async(items, probes, timeout_s, library))

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(run).result()


# -------------------------------------------------------------------------- dedup
@dataclass(frozen=True)
class Cluster:
    digest: str
    members: tuple[str, ...]
    """Candidate ids, survivor first."""
    names: tuple[str, ...]
    survivor: str
    reason: str


@dataclass(frozen=True)
class DedupResult:
    survivors: list[Candidate] = field(default_factory=list)
    clusters: tuple[Cluster, ...] = ()
    """Clusters of two or more candidates judged the same."""


def cluster_reason(fp: Fingerprint, n: int) -> str:
    cases = " · ".join(f"probe {i}: {text}" for i, text in enumerate(fp.cases))
    return (
        f"{n} candidates returned the same values and made the same API calls with the same "
        f"arguments on all {len(fp.cases)} probe scenes ({cases})"
    )


def dedup_behavioural(
    candidates: list[Candidate],
    rule: str = "first_seen",
    fingerprints: dict[str, Fingerprint] | None = None,
) -> DedupResult:
    """One survivor per cluster of equal informative fingerprints, chosen by ``rule``;
    survivors keep their order. Uninformative candidates stay, each on its own."""
    if fingerprints is None or any(c.id not in fingerprints for c in candidates):
        fingerprints = {**(fingerprints or {}), **fingerprint_all(candidates)}
    key = q.SURVIVOR_RULES[rule]
    groups: dict[str, list[Candidate]] = {}
    for c in candidates:
        fp = fingerprints[c.id]
        groups.setdefault(fp.digest if fp.informative else "alone-" + c.id, []).append(c)
    survivors: set[str] = set()
    clusters = []
    for digest, members in groups.items():
        best = min(members, key=key)
        survivors.add(best.id)
        if len(members) > 1:
            ordered = [best] + [m for m in members if m is not best]
            clusters.append(
                Cluster(
                    digest,
                    tuple(m.id for m in ordered),
                    tuple(m.name for m in ordered),
                    best.id,
                    cluster_reason(fingerprints[best.id], len(members)),
                )
            )
    return DedupResult([c for c in candidates if c.id in survivors], tuple(clusters))
