"""Programs the synthetic coder writes: strategies, helper functions, library calls and bugs.

A program is assembled from small fragments according to a :class:`Choices` record, so the
same concept (say, "rotation matrix to quaternion") recurs across trials under different
names, with or without a docstring, general or hard-coded — the variety the skill miner needs.
Each bug in :data:`BUGS` leaves a recognisable trace in the code, which is how the coder later
"reads" its own mistake from the prompt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from engine.llm.synthetic.reading import PROGRAM_START

STRATEGIES = ("pipeline", "point", "helpers")

BUGS = {
    "misspelt_api": "calls get_observations() instead of get_observation()",
    "wrong_frame": "uses camera-frame grasp poses as if they were in the world frame",
    "close_early": "closes the gripper before reaching the grasp pose",
    "high_grasp": "grasps 3 cm above the cube",
    "shape_error": "passes a 4x4 pose to solve_ik instead of a position",
    "quat_order": "hands solve_ik an [x, y, z, w] quaternion",
    "no_topdown_filter": "takes the planner's first grasp without checking it comes from above",
    "short_lift": "lifts by only 1 cm",
}

# Concept -> names the coder may give its own helper for it.
NAME_POOLS = {
    "quat": ("quat_from_matrix", "rotation_to_quat_wxyz", "matrix_to_quaternion", "rotmat_to_quat"),
    "mask": ("get_object_mask", "find_mask", "best_mask_for", "segment_best"),
    "topdown": ("top_down_grasps", "select_top_down_grasps", "filter_vertical_grasps"),
    "plan": ("plan_pick", "solve_pick_joints", "pick_joint_plan"),
    "execute": ("execute_pick", "run_pick", "grasp_and_lift"),
}

# Library functions whose calling convention the coder knows, per concept: (params, template).
# Templates use {fn} and the program's variable names.
KNOWN_SKILLS = {
    "quat": {
        "rotation_matrix_to_quaternion": (["R"], "{fn}({R})"),
        **{n: (["R"], "{fn}({R})") for n in NAME_POOLS["quat"]},
    },
    "topdown": {
        "select_top_down_grasp": (
            ["grasps", "scores", "cam_to_world", "vertical_threshold"],
            "[g for g in [{fn}(poses, scores, cam_to_world)[0]] if g is not None]",
        ),
        **{
            n: (["poses", "scores", "cam_to_world", "min_dot"], "{fn}(poses, scores, cam_to_world)")
            for n in NAME_POOLS["topdown"]
        },
    },
    "mask": {n: (["rgb", "prompt"], "{fn}(rgb, {prompt!r})") for n in NAME_POOLS["mask"]},
}


@dataclass
class Choices:
    strategy: str
    bug: str | None
    prompt_word: str
    approach: float
    lift: float
    names: dict[str, str]
    docstrings: dict[str, bool]
    skill_calls: dict[str, str] = field(default_factory=dict)
    hard_coded_helper: bool = False
    chatty: bool = True
    verify: bool = True
    """Look at the scene again after lifting and print how far the cube rose."""
    bound_obs: bool = False
    """Read the pre-bound ``obs`` (as CaP-X's examples do) instead of calling get_observation()."""


def choose(
    rng: random.Random,
    *,
    bug_rate: float,
    helper_style: float,
    docstring: float,
    skills: dict[str, list[str]],
    skill_use: float,
    verify: float = 1.0,
    forced_bug: str | None = None,
    avoid_skills: frozenset[str] = frozenset(),
) -> Choices:
    """Draw a program's choices; ``forced_bug`` repeats a mistake, ``avoid_skills`` drops failed ones."""
    strategy = "helpers" if rng.random() < helper_style else rng.choice(("pipeline", "point"))
    bug = forced_bug
    if bug is None and rng.random() < bug_rate:
        bug = rng.choice(sorted(BUGS))
    names = {concept: rng.choice(pool) for concept, pool in NAME_POOLS.items()}
    calls: dict[str, str] = {}
    for concept, known in KNOWN_SKILLS.items():
        fitting = [s for s in sorted(skills) if s in known and s not in avoid_skills]
        fitting = [s for s in fitting if skills[s] == known[s][0]]  # the signature it knows
        if fitting and rng.random() < skill_use:
            calls[concept] = rng.choice(fitting)
    return Choices(
        strategy=strategy,
        bug=bug,
        prompt_word=rng.choice(("red cube", "cube", "red block", "red cube")),
        approach=round(rng.uniform(0.08, 0.14), 2),
        lift=round(rng.uniform(0.10, 0.20), 2),
        names=names,
        docstrings={concept: rng.random() < docstring for concept in NAME_POOLS},
        skill_calls=calls,
        hard_coded_helper=strategy == "helpers" and rng.random() < 0.35,
        chatty=rng.random() < 0.8,
        verify=rng.random() < verify,
        bound_obs=rng.random() < 0.5,
    )


def _doc(c: Choices, concept: str, text: str) -> str:
    return f'    """{text}"""\n' if c.docstrings.get(concept) else ""


def _quat_helper(c: Choices) -> str:
    name = c.names["quat"]
    doc = _doc(c, "quat", "Convert a 3x3 rotation matrix to a [w, x, y, z] quaternion.")
    if c.bug == "quat_order":
        return (
            f"def {name}(R):\n{doc}"
            "    from scipy.spatial.transform import Rotation\n"
            "    return Rotation.from_matrix(R).as_quat()  # quaternion for solve_ik\n"
        )
    return (
        f"def {name}(R):\n{doc}"
        "    w = np.sqrt(max(0.0, 1.0 + R[0, 0] + R[1, 1] + R[2, 2])) / 2.0\n"
        "    x = np.copysign(np.sqrt(max(0.0, 1.0 + R[0, 0] - R[1, 1] - R[2, 2])) / 2.0, R[2, 1] - R[1, 2])\n"
        "    y = np.copysign(np.sqrt(max(0.0, 1.0 - R[0, 0] + R[1, 1] - R[2, 2])) / 2.0, R[0, 2] - R[2, 0])\n"
        "    z = np.copysign(np.sqrt(max(0.0, 1.0 - R[0, 0] - R[1, 1] + R[2, 2])) / 2.0, R[1, 0] - R[0, 1])\n"
        "    q = np.array([w, x, y, z])\n"
        "    return q / np.linalg.norm(q)\n"
    )


def _topdown_helper(c: Choices) -> str:
    name = c.names["topdown"]
    doc = _doc(
        c, "topdown", "World-frame grasps whose approach axis points down, best score first."
    )
    transform = "pose" if c.bug == "wrong_frame" else "cam_to_world @ pose"
    return (
        f"def {name}(poses, scores, cam_to_world, min_dot=0.8):\n{doc}"
        "    out = []\n"
        "    for pose, score in zip(poses, scores):\n"
        f"        world = {transform}\n"
        "        if world[:3, 2] @ np.array([0.0, 0.0, -1.0]) > min_dot:\n"
        "            out.append((score, world))\n"
        "    out.sort(key=lambda item: -item[0])\n"
        "    return [world for _, world in out]\n"
    )


def _mask_helper(c: Choices) -> str:
    name = c.names["mask"]
    doc = _doc(c, "mask", "Highest-scoring segmentation mask for a text prompt, or None.")
    return (
        f"def {name}(rgb, prompt):\n{doc}"
        "    results = segment_sam3_text_prompt(rgb, prompt)\n"
        "    if not results:\n"
        "        return None\n"
        '    return max(results, key=lambda r: r["score"])["mask"]\n'
    )


def _plan_helper(c: Choices) -> str:
    name = c.names["plan"]
    doc = _doc(
        c, "plan", "Joint targets (pre-grasp, grasp, lift) for a grasp, or None if unreachable."
    )
    pos = "grasp" if c.bug == "shape_error" else "position"
    return (
        f"def {name}(grasp, quat, approach={c.approach}, lift={c.lift}):\n{doc}"
        "    position = grasp[:3, 3]\n"
        "    try:\n"
        f"        q_pre = solve_ik({pos} + np.array([0.0, 0.0, approach]), quat)\n"
        f"        q_grasp = solve_ik({pos}, quat)\n"
        f"        q_lift = solve_ik({pos} + np.array([0.0, 0.0, lift]), quat)\n"
        "    except ValueError:\n"
        "        return None\n"
        "    return q_pre, q_grasp, q_lift\n"
    )


def _execute_helper(c: Choices) -> str:
    name = c.names["execute"]
    doc = _doc(c, "execute", "Open, approach, grasp, close and lift along joint targets.")
    steps = [
        "open_gripper()",
        "move_to_joints(q_pre)",
        "move_to_joints(q_grasp)",
        "close_gripper()",
    ]
    if c.bug == "close_early":
        steps = [
            "open_gripper()",
            "move_to_joints(q_pre)",
            "close_gripper()",
            "move_to_joints(q_grasp)",
        ]
    body = "".join(f"    {s}\n" for s in steps)
    return f"def {name}(q_pre, q_grasp, q_lift):\n{doc}{body}    move_to_joints(q_lift)\n"


def _quat_call(c: Choices, arg: str) -> str:
    fn = c.skill_calls.get("quat")
    if fn:
        return KNOWN_SKILLS["quat"][fn][1].format(fn=fn, R=arg)
    return f"{c.names['quat']}({arg})"


def _topdown_call(c: Choices) -> str:
    fn = c.skill_calls.get("topdown")
    if fn:
        return KNOWN_SKILLS["topdown"][fn][1].format(fn=fn)
    return f"{c.names['topdown']}(poses, scores, cam_to_world)"


def _grasp_offset(c: Choices) -> tuple[str, str]:
    if c.bug == "high_grasp":
        return "grasp_height_offset = 0.03\n", " + np.array([0.0, 0.0, grasp_height_offset])"
    return "", ""


def _observe(c: Choices) -> str:
    if c.bound_obs and c.bug != "misspelt_api":  # CaP-X binds obs before every block
        return (
            'cam = obs["robot0_robotview"]\n'
            'rgb = cam["images"]["rgb"]\n'
            'depth = cam["images"]["depth"].reshape(rgb.shape[:2])\n'
            'K = cam["intrinsics"]\n'
            'cam_to_world = cam["pose_mat"]\n'
        )
    fn = "get_observations" if c.bug == "misspelt_api" else "get_observation"
    return (
        f"obs = {fn}()\n"
        'cam = obs["robot0_robotview"]\n'
        'rgb = cam["images"]["rgb"]\n'
        'depth = cam["images"]["depth"]\n'
        'K = cam["intrinsics"]\n'
        'cam_to_world = cam["pose_mat"]\n'
    )


START_HEIGHT = """ys, xs = np.nonzero(mask)
zc = depth[ys, xs]
pts = np.stack([(xs - K[0, 2]) * zc / K[0, 0], (ys - K[1, 2]) * zc / K[1, 1], zc], axis=1)
start_height = float(np.median((pts @ cam_to_world[:3, :3].T + cam_to_world[:3, 3])[:, 2]))
"""


def _lift_check(prompt: str) -> str:
    """Look again and print how far the cube rose (what the coder later reads back)."""
    return (
        "# Did it work? Find the cube again and compare its height with the start.\n"
        'view = get_observation()["robot0_robotview"]\n'
        f'found = segment_sam3_text_prompt(view["images"]["rgb"], "{prompt}")\n'
        "if found:\n"
        '    m = max(found, key=lambda r: r["score"])["mask"]\n'
        "    ys, xs = np.nonzero(m)\n"
        '    zc = view["images"]["depth"][ys, xs]\n'
        '    Kv, Tv = view["intrinsics"], view["pose_mat"]\n'
        "    pts = np.stack([(xs - Kv[0, 2]) * zc / Kv[0, 0], (ys - Kv[1, 2]) * zc / Kv[1, 1], zc], axis=1)\n"
        "    rise = float(np.median((pts @ Tv[:3, :3].T + Tv[:3, 3])[:, 2])) - start_height\n"
        '    print(f"lift check: the cube rose {rise:.3f} m")\n'
        "else:\n"
        '    print("lift check: the cube is not visible")\n'
    )


def recheck_program(c: Choices) -> str:
    """A block that only looks again (variables from the earlier block persist)."""
    return "import numpy as np\n\n" + _lift_check(c.prompt_word)


def _perceive(c: Choices) -> str:
    p = c.prompt_word
    if c.strategy == "point":
        return (
            f'point = point_prompt_molmo(rgb, "{p}")["{p}"]\n'
            "if point[0] is None:\n"
            f'    raise RuntimeError("could not find the {p}")\n'
            "masks = segment_sam3_point_prompt(rgb, point)\n"
            'mask = masks[0]["mask"]\n'
        )
    fn = c.skill_calls.get("mask")
    if fn:
        return f"mask = {KNOWN_SKILLS['mask'][fn][1].format(fn=fn, prompt=p)}\nif mask is None:\n    raise RuntimeError('no mask')\n"
    if c.strategy == "helpers":
        return f'mask = {c.names["mask"]}(rgb, "{p}")\nif mask is None:\n    raise RuntimeError("{p} not found")\n'
    return (
        f'results = segment_sam3_text_prompt(rgb, "{p}")\n'
        "if not results:\n"
        f'    raise RuntimeError("{p} not found")\n'
        'mask = max(results, key=lambda r: r["score"])["mask"]\n'
    )


def _choose_and_move(c: Choices) -> str:
    offset_line, offset = _grasp_offset(c)
    lift = 0.01 if c.bug == "short_lift" else c.lift
    say = c.chatty
    text = "poses, scores = plan_grasp(depth, K, mask)\n"
    if say:
        text += 'print(f"{len(poses)} grasp candidates")\n'
    if c.bug != "no_topdown_filter":
        text += f"candidates = {_topdown_call(c)}\n"
        text += 'if not candidates:\n    raise RuntimeError("no top-down grasp")\n'
    text += offset_line
    pos = "grasp" if c.bug == "shape_error" else "position"
    if c.bug == "no_topdown_filter":
        text += (
            "grasp = cam_to_world @ poses[0]\n"
            f"position = grasp[:3, 3]{offset}\n"
            f"quat = {_quat_call(c, 'grasp[:3, :3]')}\n"
            f"q_pre = solve_ik({pos} + np.array([0.0, 0.0, {c.approach}]), quat)\n"
            f"q_grasp = solve_ik({pos}, quat)\n"
            f"q_lift = solve_ik({pos} + np.array([0.0, 0.0, {lift}]), quat)\n"
        )
    elif c.strategy == "helpers":
        text += "plan = None\nfor grasp in candidates:\n"
        if offset:
            text += "    grasp = grasp.copy()\n    grasp[2, 3] += grasp_height_offset\n"
        text += (
            f"    quat = {_quat_call(c, 'grasp[:3, :3]')}\n"
            f"    plan = {c.names['plan']}(grasp, quat, lift={lift})\n"
            "    if plan is not None:\n"
            "        break\n"
            'if plan is None:\n    raise RuntimeError("no reachable grasp")\n'
            "q_pre, q_grasp, q_lift = plan\n"
        )
    else:
        text += (
            "plan = None\n"
            "for grasp in candidates:\n"
            f"    position = grasp[:3, 3]{offset}\n"
            f"    quat = {_quat_call(c, 'grasp[:3, :3]')}\n"
            "    try:\n"
            f"        q_pre = solve_ik({pos} + np.array([0.0, 0.0, {c.approach}]), quat)\n"
            f"        q_grasp = solve_ik({pos}, quat)\n"
            f"        q_lift = solve_ik({pos} + np.array([0.0, 0.0, {lift}]), quat)\n"
            "    except ValueError as err:\n"
            + ('        print("skipping grasp:", err)\n' if say else "")
            + "        continue\n"
            "    plan = (q_pre, q_grasp, q_lift)\n"
            "    break\n"
            'if plan is None:\n    raise RuntimeError("no reachable grasp")\n'
            "q_pre, q_grasp, q_lift = plan\n"
        )
    if c.strategy == "helpers":
        text += f"{c.names['execute']}(q_pre, q_grasp, q_lift)\n"
    else:
        steps = [
            "open_gripper()",
            "move_to_joints(q_pre)",
            "move_to_joints(q_grasp)",
            "close_gripper()",
        ]
        if c.bug == "close_early":
            steps = [
                "open_gripper()",
                "move_to_joints(q_pre)",
                "close_gripper()",
                "move_to_joints(q_grasp)",
            ]
        text += "\n".join(steps) + "\nmove_to_joints(q_lift)\n"
    if say:
        text += 'print("lift done")\n'
    return text


def _hard_coded_helper(c: Choices) -> str:
    """A task-specific helper with magic numbers and trial globals: the kind the gates reject."""
    doc = (
        '    """Lift the red cube from where it usually sits."""\n'
        if c.docstrings["execute"]
        else ""
    )
    return (
        "def lift_red_cube():\n"
        f"{doc}"
        "    target = np.array([0.55, 0.0, -0.09])\n"
        "    q = solve_ik(target + np.array([0.0, 0.0, 0.15]), quat)\n"
        "    move_to_joints(q)\n"
    )


def write_program(c: Choices) -> str:
    """Assemble the program for a set of choices."""
    parts = [PROGRAM_START]
    if "quat" not in c.skill_calls:
        parts.append(_quat_helper(c))
    if c.strategy == "helpers":
        if "mask" not in c.skill_calls:
            parts.append(_mask_helper(c))
        if "topdown" not in c.skill_calls:
            parts.append(_topdown_helper(c))
        parts.append(_plan_helper(c))
        parts.append(_execute_helper(c))
        if c.hard_coded_helper:
            parts.append(_hard_coded_helper(c))
    elif "topdown" not in c.skill_calls:
        parts.append(_topdown_helper(c))
    body = _observe(c) + _perceive(c)
    if c.verify:
        body += START_HEIGHT
    body += _choose_and_move(c)
    if c.verify:
        body += "\n" + _lift_check(c.prompt_word)
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n\n\n" + body


def bug_seen(code: str) -> str | None:
    """The catalogued bug whose trace appears last in the code so far (the latest block's)."""
    markers = {
        "misspelt_api": "get_observations(",
        "wrong_frame": "world = pose\n",
        "high_grasp": "grasp_height_offset = 0.03",
        "shape_error": "solve_ik(grasp",
        "quat_order": ".as_quat()  # quaternion for solve_ik",
        "no_topdown_filter": "grasp = cam_to_world @ poses[0]",
        "short_lift": "np.array([0.0, 0.0, 0.01]), quat)",
        "close_early": "close_gripper()\nmove_to_joints(q_grasp)",
    }
    code = code.replace(
        "    close_gripper()\n    move_to_joints(q_grasp)",
        "close_gripper()\nmove_to_joints(q_grasp)",
    )
    latest = max(markers, key=lambda bug: code.rfind(markers[bug]))
    if code.rfind(markers[latest]) < 0:
        return None
    # Only a trace inside the last program counts: programs start with their numpy import.
    last_start = code.rfind(PROGRAM_START)
    return latest if code.rfind(markers[latest]) >= last_start else None
