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
    for height, success in ((0.041, True), (0.039, False), (0.0, False)):
        sim.data.qpos[adr + 2] = TABLE_TOP_Z + height
        sim.data.qvel[:] = 0
        mujoco.mj_kinematics(sim.model, sim.data)
        outcome = sim.evaluate()
        assert outcome.success is success
        if success:
            assert outcome.reward == 1.0
        else:
            # robosuite Lift, reward_shaping=True, divided by its maximum 2.25 (CaP-X's scale):
            # reaching 1 - tanh(10 d), d = gripper-to-cube distance; nothing grasped here.
            d = np.linalg.norm(sim.data.site_xpos[sim.scene.tcp_site] - sim.object_pos("cube"))
            assert outcome.reward == pytest.approx((1 - np.tanh(10 * d)) / 2.25, abs=1e-9)


def test_an_untouched_cube_scores_about_what_capx_reports(sim: Simulator) -> None:
    sim.reset(4)
    reward = sim.evaluate().reward
    assert 0.0 < reward < 0.02  # CaP-X: about 0.01 for an untouched cube


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


def test_pose_mat_is_relative_to_the_mount_and_ik_to_the_arm_base() -> None:
    """CaP-X measured: the camera at world (0.44, 0, 1.312), fovy 45; pose_mat relative to the
    mount body at world z 0.922, IK targets relative to the arm base at z 0.912."""
    env = build_env(quality="fast", seed=0)
    obs = env.api.get_observation()["robot0_robotview"]
    sim = env.sim
    assert np.allclose(sim.data.cam_xpos[sim.scene.camera], [0.44, 0.0, 1.312], atol=1e-3)
    assert sim.model.cam_fovy[sim.scene.camera] == pytest.approx(45.0)
    assert np.allclose(obs["pose_mat"][:3, 3], [0.44 + 0.56, 0.0, 1.312 - 0.922], atol=1e-3)
    assert np.allclose(ROBOT_BASE_POS, [-0.56, 0.0, 0.912])
    target = np.array([0.5, 0.0, 0.1])
    env.api.move_to_joints(env.api.solve_ik(target, [0.0, 1.0, 0.0, 0.0]))
    sim.control_step(10)
    assert np.allclose(sim.tcp_position(), target + [-0.56, 0.0, 0.912], atol=5e-3)


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
