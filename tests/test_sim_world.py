"""The MuJoCo world: placement, success criterion, determinism, gripper hold."""

from __future__ import annotations

import math
from pathlib import Path

import mujoco
import numpy as np
import pytest

from engine.api.env import build_env
from engine.api.geometry import rotation_to_quat_wxyz
from engine.api.runner import run_program
from engine.errors import UserError
from engine.sim.scene import ROBOT_BASE_POS
from engine.sim.simulator import SimConfig, Simulator
from engine.sim.tasks import TABLE_TOP_Z, get_task

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(SimConfig(quality="fast"), seed=1)


def test_cube_placement_follows_the_spec(sim: Simulator) -> None:
    yaws, halves = [], []
    for seed in range(30):
        sim.reset(seed)
        pos = sim.object_pos("cube")
        half = sim.object_half_size("cube")
        assert abs(pos[0]) <= 0.03 + 1e-3 and abs(pos[1]) <= 0.03 + 1e-3
        assert 0.020 <= half <= 0.022
        assert pos[2] == pytest.approx(TABLE_TOP_Z + half, abs=2e-3)  # resting on the table
        w, _, _, z = sim.object_quat("cube")
        yaws.append(2 * math.atan2(z, w))
        halves.append(half)
    assert np.ptp(yaws) > 1.0, "yaw should vary between seeds"
    assert len(set(np.round(halves, 5))) > 20, "size should vary between seeds"


def test_success_needs_the_cube_four_centimetres_above_the_table(sim: Simulator) -> None:
    sim.reset(2)
    adr = sim.scene.object_qpos["cube"]
    for height, success, reward in ((0.041, True, 1.0), (0.039, False, 0.975), (0.0, False, 0.0)):
        sim.data.qpos[adr + 2] = TABLE_TOP_Z + height
        sim.data.qvel[:] = 0
        mujoco.mj_kinematics(sim.model, sim.data)
        outcome = sim.evaluate()
        assert outcome.success is success
        assert outcome.reward == pytest.approx(reward, abs=1e-6)


def test_same_seed_and_program_give_the_same_outcome() -> None:
    source = (EXAMPLES / "cube_lift.py").read_text()
    runs = [run_program(source, seed=11, quality="fast") for _ in range(2)]
    assert runs[0].success
    assert runs[0].stdout == runs[1].stdout
    assert (runs[0].steps, runs[0].cube_height) == (runs[1].steps, runs[1].cube_height)
    other = run_program(source, seed=12, quality="fast")
    assert other.stdout != runs[0].stdout


def test_gripper_holds_the_cube_through_a_lift_and_a_sideways_move() -> None:
    env = build_env(quality="fast", seed=5)
    run_program((EXAMPLES / "cube_lift.py").read_text(), env=env, seed=5)
    sim = env.sim
    assert sim.object_grasped("cube")
    lifted = sim.object_pos("cube")
    tcp, rot = sim.tcp_pose_world()
    q = env.api.solve_ik(tcp - sim.scene.base_pos + [0.0, 0.15, 0.0], rotation_to_quat_wxyz(rot))
    env.api.move_to_joints(q)
    moved = sim.object_pos("cube")
    assert moved[1] - lifted[1] == pytest.approx(0.15, abs=0.02)
    assert moved[2] - TABLE_TOP_Z > 0.1
    assert sim.evaluate().success


def test_robot_base_is_the_api_world_frame() -> None:
    env = build_env(quality="fast", seed=0)
    obs = env.api.get_observation()["robot0_robotview"]
    cam_world = env.sim.data.cam_xpos[env.sim.scene.camera]
    assert np.allclose(obs["pose_mat"][:3, 3], cam_world - np.array(ROBOT_BASE_POS))


def test_unknown_task_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown task 'nope'"):
        get_task("nope")


def test_episode_cap_stops_the_robot() -> None:
    sim = Simulator(SimConfig(quality="fast", episode_cap=40), seed=0)
    sim.set_gripper(closed=True)
    with pytest.raises(RuntimeError, match="episode step cap"):
        sim.set_gripper(closed=False)
        sim.set_gripper(closed=True)
    assert sim.counters.control_steps == 40
