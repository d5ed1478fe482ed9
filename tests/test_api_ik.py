"""solve_ik: accuracy on reachable poses, a clear error on unreachable ones."""

from __future__ import annotations

import re

import mujoco
import numpy as np
import pytest

from engine.api.env import build_env
from engine.api.geometry import rotation_to_quat_wxyz


@pytest.fixture(scope="module")
def env():
    return build_env(quality="fast", seed=0)


def _fk(env, q):
    sim = env.sim
    data = mujoco.MjData(sim.model)
    data.qpos[sim.scene.arm_qpos] = q
    mujoco.mj_kinematics(sim.model, data)
    sid = sim.scene.tcp_site
    return data.site_xpos[sid] - sim.scene.base_pos, data.site_xmat[sid].reshape(3, 3)


def test_ik_reaches_poses_of_random_reachable_configurations(env) -> None:
    rng = np.random.default_rng(42)
    limits = env.sim.joint_limits()
    home = env.sim.arm_qpos()
    reached = 0
    for _ in range(20):
        q_true = np.clip(home + rng.normal(0, 0.35, 7), limits[:, 0], limits[:, 1])
        pos, rot = _fk(env, q_true)
        q = env.api.solve_ik(pos, rotation_to_quat_wxyz(rot))
        got_pos, got_rot = _fk(env, q)
        assert np.linalg.norm(got_pos - pos) < 0.002
        angle = np.arccos(np.clip((np.trace(got_rot.T @ rot) - 1) / 2, -1, 1))
        assert np.rad2deg(angle) < 2.0
        assert np.all(q >= limits[:, 0] - 1e-9) and np.all(q <= limits[:, 1] + 1e-9)
        reached += 1
    assert reached == 20


def test_moving_to_an_ik_solution_puts_the_tcp_there(env) -> None:
    target = np.array([0.5, 0.1, 0.05])
    q = env.api.solve_ik(target, [0.0, 1.0, 0.0, 0.0])
    env.api.move_to_joints(q)
    env.sim.control_step(10)  # let the servo settle past the 0.02 rad stop criterion
    tcp, rot = env.sim.tcp_pose_world()
    assert np.linalg.norm(tcp - env.sim.scene.base_pos - target) < 0.005
    assert rot[:, 2] @ [0, 0, -1] > 0.999


@pytest.mark.parametrize(
    "position",
    [[1.5, 0.0, 0.3], [0.0, 0.0, -1.2], [-0.9, 0.9, 0.0]],
    ids=["far", "below", "behind"],
)
def test_unreachable_poses_give_the_closest_solution_and_a_warning(env, position, capsys) -> None:
    """CaP-X's solve_ik never raises: it returns its solver's best effort."""
    q = env.api.solve_ik(np.array(position), np.array([0.0, 1.0, 0.0, 0.0]))
    limits = env.sim.joint_limits()
    assert q.shape == (7,) and np.all(np.isfinite(q))
    assert np.all(q >= limits[:, 0] - 1e-9) and np.all(q <= limits[:, 1] + 1e-9)
    got, _ = _fk(env, q)
    miss = np.linalg.norm(got - np.array(position))
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    reported = float(re.search(r"misses by (\d+\.\d) cm", err).group(1))
    assert "solve_ik: warning: target not reached" in err
    assert reported == pytest.approx(miss * 100, abs=0.06)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda api: api.solve_ik([0.5, 0.0], [1, 0, 0, 0]), "position must be 3"),
        (lambda api: api.solve_ik([0.5, 0.0, 0.1], [0, 0, 0, 0]), "non-zero norm"),
        (lambda api: api.move_to_joints([0.0] * 6), "expected 7 finite joint angles"),
        (lambda api: api.move_to_joints([np.nan] * 7), "expected 7 finite joint angles"),
    ],
)
def test_bad_arguments_give_clear_errors(env, call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call(env.api)
