"""CaP-X's programs run here unchanged: its namespace, observation, API shapes and conventions.

The reference values are CaP-X's (capgym/cap-x @53e9966, read from its source), written out
here, never taken from our implementation.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from engine.api.curated9 import curated9_source
from engine.api.env import build_env
from engine.api.runner import run_program
from engine.cli import main
from engine.llm.replay import ReplayBackend
from engine.trial.loop import run_trial
from tests.sweep_helpers import trial_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "capx"

CAPX_PARAMETERS = {
    "get_observation": [],
    "point_prompt_molmo": ["image", "text_prompt"],
    "segment_sam3_text_prompt": ["rgb", "text_prompt"],
    "segment_sam3_point_prompt": ["rgb", "point_coords"],
    "plan_grasp": ["depth", "intrinsics", "segmentation"],
    "get_oriented_bounding_box_from_3d_points": ["points"],
    "solve_ik": ["position", "quaternion_wxyz"],
    "move_to_joints": ["joints"],
    "open_gripper": [],
    "close_gripper": [],
}
"""FrankaControlApiReduced's functions and their parameter names, in CaP-X's order."""


@pytest.fixture(scope="module")
def env():
    env = build_env(quality="fast", seed=4)
    yield env
    env.close()


def test_the_api_has_capx_names_and_parameter_names(env) -> None:
    functions = env.api.functions()
    assert list(functions) == list(CAPX_PARAMETERS)
    for name, params in CAPX_PARAMETERS.items():
        assert list(inspect.signature(functions[name]).parameters) == params


@pytest.mark.parametrize(
    "program, library",
    [("prebound_obs.py", ""), ("keywords_scipy.py", ""), ("curated9.py", "curated9")],
)
def test_capx_style_programs_lift_the_cube_on_at_least_9_of_10_seeds(program, library) -> None:
    source = (EXAMPLES / program).read_text()
    lib = curated9_source() if library else ""
    env = build_env(quality="fast", seed=1)
    wins = 0
    for seed in range(1, 11):
        env.reset(seed)
        result = run_program(source, seed=seed, env=env, library_source=lib)
        assert result.error is None or not result.success
        wins += result.success
    assert wins >= 9, f"{program} lifted the cube on {wins}/10 seeds"


@pytest.mark.parametrize(
    "program, extra",
    [
        ("prebound_obs.py", []),
        ("keywords_scipy.py", []),
        ("curated9.py", ["--library", "curated9"]),
    ],
)
def test_the_same_programs_run_sandboxed_through_sim_run(program, extra, capsys) -> None:
    argv = ["sim", "run", str(EXAMPLES / program), "--seed", "5", "--quality", "fast", "--json"]
    assert main(argv + extra) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["success"] and out["error"] is None


def test_without_the_library_the_curated9_program_fails_with_a_name_error(capsys) -> None:
    argv = ["sim", "run", str(EXAMPLES / "curated9.py"), "--seed", "5", "--quality", "fast"]
    assert main(argv + ["--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["error"].startswith("NameError: name 'mask_to_world_points' is not defined")


async def test_obs_is_bound_before_every_block_with_depth_h_w_1() -> None:
    block0 = (
        "d = obs['robot0_robotview']['images']['depth']\n"
        "print(d.ndim, d.shape[-1], obs['robot_joint_pos'].shape)\n"
        "first = obs\n"
        "move_to_joints(obs['robot0_joint_pos'] + [0.3, 0, 0, 0, 0, 0, 0])\n"
        "solve_ik = None\n"  # the API is bound again before the next block, as in CaP-X
    )
    block1 = (
        "print(obs is first, INPUTS is first, RESULT)\n"
        "moved = obs['robot0_joint_pos'][0] - first['robot0_joint_pos'][0]\n"
        "print(round(float(moved), 1), callable(solve_ik))\n"
    )
    replies = [block0, f"REGENERATE\n```python\n{block1}```", "FINISH"]
    record = await run_trial(trial_spec("obs", quality="fast"), ReplayBackend(replies))
    first, second = record.blocks[0], record.blocks[1]
    assert first.ok and first.stdout == "3 1 (8,)\n"
    assert second.ok and second.stdout == "False True None\n0.3 True\n"


async def test_numpy_is_not_pre_imported_as_in_capx() -> None:
    record = await run_trial(
        trial_spec("np", quality="fast"), ReplayBackend(["print(np.pi)", "FINISH"])
    )
    assert record.blocks[0].exception.startswith("NameError: name 'np' is not defined")


def test_observations_carry_robot_state_and_no_object_poses_by_default(env) -> None:
    obs = env.api.get_observation()
    assert obs["robot_joint_pos"].shape == (8,) and obs["robot_cartesian_pos"].shape == (8,)
    assert np.allclose(obs["robot_joint_pos"][:7], env.sim.arm_qpos())
    assert obs["robot_joint_pos"][7] == pytest.approx(1.0, abs=0.05)  # open at the start
    assert obs["robot0_robotview"]["images"]["depth"].ndim == 2  # the API squeezes it
    assert "cube_poses" not in obs and not any("cube" in k for k in obs)
    # the hand (CaP-X's panda_hand) is 0.107 m behind the TCP along the approach axis
    tcp, rot = env.sim.tcp_pose_world()
    hand = tcp - 0.107 * rot[:, 2] - env.sim.scene.mount_pos
    assert np.allclose(obs["robot_cartesian_pos"][:3], hand, atol=1e-6)


def test_privileged_observations_add_the_true_object_pose_in_the_pose_mat_frame() -> None:
    env = build_env(quality="fast", seed=4, privileged_observations=True)
    obs = env.api.get_observation()
    pose = obs["cube_poses"]["primary"]
    true = env.sim.object_pos("cube") - np.array([-0.56, 0.0, 0.922])  # CaP-X's mount
    assert np.allclose(pose[:3], true, atol=1e-6) and pose.shape == (7,)
    env.close()


def test_plan_grasp_accepts_h_w_1_depth_and_segmentation(env) -> None:
    obs = env.api.observation(depth_channel=True)
    cam = obs["robot0_robotview"]
    mask = env.api.segment_sam3_text_prompt(cam["images"]["rgb"], "red cube")[0]["mask"]
    a, sa = env.api.plan_grasp(cam["images"]["depth"], cam["intrinsics"], mask[..., None])
    b, sb = env.api.plan_grasp(cam["images"]["depth"][..., 0], cam["intrinsics"], mask)
    assert len(a) > 0 and np.allclose(a, b) and np.allclose(sa, sb)


def test_solve_ik_orients_the_hand_fingers_along_its_y(env) -> None:
    """CaP-X's quaternion orients panda_hand; its fingers slide along the hand's y axis."""
    env.reset(4)
    q = env.api.solve_ik(np.array([0.5, 0.0, 0.1]), np.array([0.0, 1.0, 0.0, 0.0]))
    env.api.move_to_joints(q)
    sim = env.sim
    _, rot = sim.tcp_pose_world()
    assert rot[:, 2] @ [0, 0, -1] > 0.999  # approach: down
    joint = sim.model.joint("robot0_gripper0_finger_joint1").id
    finger_axis = sim.data.xaxis[joint]
    assert abs(finger_axis @ rot[:, 1]) > 0.999


SYNTAX_ERRORS = {
    "missing colon": ("if True\n    x = 1\n", "SyntaxError: expected ':'", True),
    "unclosed bracket": ("x = [1, 2\ny = 3\n", "SyntaxError: '[' was never closed", True),
    "unexpected indent": ("x = 1\n    y = 2\n", "IndentationError: unexpected indent", False),
    "bad dedent": ("if True:\n        a = 1\n    b = 2\n", "IndentationError: unindent", True),
    "unclosed string": ("s = 'abc\n", "SyntaxError: unterminated string literal", True),
    "missing paren": ("print('a'\n", "SyntaxError: '(' was never closed", True),
    "assign to literal": ("1 = x\n", "SyntaxError: cannot assign to literal", True),
    "keyword as name": ("class = 3\n", "SyntaxError: invalid syntax", True),
    "tabs and spaces": ("if True:\n\tx = 1\n        y = 2\n", "TabError: inconsistent use", False),
}


async def test_syntax_errors_are_exceptions_with_their_line_never_policy_violations() -> None:
    """As CaP-X reports them: the SyntaxError with its line and caret (CPython's own format)."""
    from engine.sandbox.worker import SandboxWorker

    async with SandboxWorker("engine.sandbox.toy:build_toy") as worker:
        for i, (name, (code, message, caret)) in enumerate(SYNTAX_ERRORS.items()):
            result = await worker.run_block(code, name=f"<block {i}>")
            assert result.violation is None, name
            assert result.exception.startswith(message), (name, result.exception)
            lines = result.stderr.splitlines()
            assert lines[0].startswith(f'  File "<block {i}>", line '), name
            bad_line = int(lines[0].rsplit(" ", 1)[1])
            assert lines[1].strip() == code.splitlines()[bad_line - 1].strip(), name
            assert ("^" in lines[2]) is caret, name
            assert lines[-1].startswith(message.split(":")[0]), name


async def test_the_llm_is_told_a_syntax_error_as_a_syntax_error() -> None:
    replies = ["if True\n    x = 1\n", "REGENERATE\n```python\nprint(1)\n```", "FINISH"]
    record = await run_trial(trial_spec("syntax", quality="fast"), ReplayBackend(replies))
    first, second = record.blocks[0], record.blocks[1]
    assert first.violation is None and first.exception == "SyntaxError: expected ':' (line 1)"
    assert "    if True\n           ^\nSyntaxError: expected ':'" in second.prompt
    assert "policy:" not in second.prompt and "not allowed" not in second.prompt
