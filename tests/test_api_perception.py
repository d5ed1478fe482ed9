"""Perception comes from the rendered camera: prompts, masks, deprojection, grasps, noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engine.api.env import build_env
from engine.api.perception import PerceptionNoise, match_objects
from engine.sim.tasks import get_task


@pytest.fixture(scope="module")
def env():
    env = build_env(quality="full", seed=4)
    yield env
    env.close()


def _view(env):
    cam = env.api.get_observation()["robot0_robotview"]
    return cam["images"]["rgb"], cam["images"]["depth"], cam["intrinsics"], cam["pose_mat"]


def _true_cube(env):
    """The cube's true pose in pose_mat's frame (the robot mount, as in CaP-X)."""
    sim = env.sim
    pos = sim.object_pos("cube") - sim.scene.mount_pos
    w, x, y, z = sim.object_quat("cube")
    return pos, Rotation.from_quat([x, y, z, w]).as_matrix(), sim.object_half_size("cube")


@pytest.mark.parametrize("prompt", ["red cube", "cube", "red block", "the red box", "Red Cube"])
def test_prompts_naming_the_cube_find_it(env, prompt: str) -> None:
    rgb, *_ = _view(env)
    results = env.api.segment_sam3_text_prompt(rgb, prompt)
    assert len(results) == 1
    assert results[0]["mask"].sum() > 100
    assert set(results[0]) == {"mask", "box", "score"}


@pytest.mark.parametrize("prompt", ["banana", "blue cube", "green block", ""])
def test_unknown_prompts_find_nothing(env, prompt: str) -> None:
    rgb, *_ = _view(env)
    assert env.api.segment_sam3_text_prompt(rgb, prompt) == []
    assert env.api.point_prompt_molmo(rgb, prompt) == {prompt: (None, None)}


def test_stack_prompts_tell_colours_apart() -> None:
    objects = get_task("cube_stack").objects
    assert [o.name for o in match_objects("green cube", objects)] == ["green_cube"]
    assert [o.name for o in match_objects("blue", objects)] == ["blue_cube"]
    assert len(match_objects("cubes", objects)) == 3
    assert match_objects("red banana", objects) == []


def test_point_prompt_lands_on_the_mask_and_point_segmentation_returns_it(env) -> None:
    rgb, *_ = _view(env)
    mask = env.api.segment_sam3_text_prompt(rgb, "red cube")[0]["mask"]
    x, y = env.api.point_prompt_molmo(rgb, "red cube")["red cube"]
    assert mask[y, x]
    by_point = env.api.segment_sam3_point_prompt(rgb, (x, y))
    assert np.array_equal(by_point[0]["mask"], mask)
    assert env.api.segment_sam3_point_prompt(rgb, (0, 0)) == []  # floor/table is no object


def test_mask_deprojected_through_pose_mat_lies_on_the_true_cube(env) -> None:
    rgb, depth, K, pose_mat = _view(env)
    mask = env.api.segment_sam3_text_prompt(rgb, "red cube")[0]["mask"]
    v, u = np.nonzero(mask)
    z = depth[v, u]
    cam = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], axis=1)
    world = cam @ pose_mat[:3, :3].T + pose_mat[:3, 3]
    centre, R, half = _true_cube(env)
    local = (world - centre) @ R
    # Every point is on the cube's surface: inside the box grown by 3 mm (pixel-centre offset)...
    assert np.all(np.abs(local) <= half + 0.003)
    # ...and on its boundary, not inside it.
    assert np.all(np.max(np.abs(local), axis=1) >= half - 0.003)


def test_grasp_centre_from_depth_is_within_5mm_of_the_true_cube_centre(env) -> None:
    rgb, depth, K, pose_mat = _view(env)
    mask = env.api.segment_sam3_text_prompt(rgb, "red cube")[0]["mask"]
    poses, scores = env.api.plan_grasp(depth, K, mask)
    assert len(poses) >= 4 and np.all(np.diff(scores) <= 0)
    centre, R, half = _true_cube(env)
    top_down = [pose_mat @ p for p in poses if (pose_mat @ p)[2, 2] < -0.8]
    assert top_down, "a top-down grasp must be among the candidates"
    for grasp in top_down:
        assert np.linalg.norm(grasp[:3, 3] - centre) < 0.005
        # Fingers close across a pair of faces: the closing axis is a cube face axis.
        assert np.max(np.abs(R.T @ grasp[:3, 0])) > 0.99


def test_plan_grasp_uses_the_depth_it_is_given_not_the_scene(env) -> None:
    rgb, depth, K, pose_mat = _view(env)
    mask = env.api.segment_sam3_text_prompt(rgb, "red cube")[0]["mask"]
    shifted, _ = env.api.plan_grasp(depth + 0.05, K, mask)
    original, _ = env.api.plan_grasp(depth, K, mask)
    assert shifted[0][2, 3] > original[0][2, 3] + 0.03
    empty, empty_scores = env.api.plan_grasp(depth, K, np.zeros_like(mask))
    assert empty.shape == (0, 4, 4) and empty_scores.shape == (0,)
    with pytest.raises(ValueError, match="does not match depth shape"):
        env.api.plan_grasp(depth, K, mask[:10])


def test_oriented_bounding_box_ignores_outliers() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (2000, 3)) * [0.05, 0.02, 0.01] + [0.5, 0.1, 0.2]
    pts[:10] += 5.0  # far outliers
    env = build_env(quality="fast", seed=0)
    box = env.api.get_oriented_bounding_box_from_3d_points(pts)
    assert np.allclose(box["center"], [0.5, 0.1, 0.2], atol=0.005)
    assert np.allclose(sorted(box["extent"]), [0.02, 0.04, 0.1], atol=0.01)
    assert np.allclose(box["R"].T @ box["R"], np.eye(3), atol=1e-9)


def test_noise_is_off_by_default_and_seeded_when_on() -> None:
    noise = {"fragment_prob": 1.0, "max_fragments": 4, "dropout": 0.1, "depth_std": 0.002}

    def masks(seed: int, noise: dict | None):
        env = build_env(quality="fast", seed=seed, noise=noise)
        rgb = env.api.get_observation()["robot0_robotview"]["images"]["rgb"]
        depth = env.api.get_observation()["robot0_robotview"]["images"]["depth"]
        return env.api.segment_sam3_text_prompt(rgb, "cube"), depth

    clean, clean_depth = masks(3, None)
    assert len(clean) == 1
    noisy_a, depth_a = masks(3, noise)
    noisy_b, depth_b = masks(3, noise)
    assert len(noisy_a) >= 2, "fragment_prob=1 must split the mask"
    assert sum(m["mask"].sum() for m in noisy_a) < clean[0]["mask"].sum()
    assert [m["mask"].sum() for m in noisy_a] == [m["mask"].sum() for m in noisy_b]
    assert np.array_equal(depth_a, depth_b) and not np.array_equal(depth_a, clean_depth)
    assert PerceptionNoise().enabled is False


def test_missed_detections() -> None:
    env = build_env(quality="fast", seed=1, noise={"miss_prob": 1.0})
    rgb = env.api.get_observation()["robot0_robotview"]["images"]["rgb"]
    assert env.api.segment_sam3_text_prompt(rgb, "red cube") == []
