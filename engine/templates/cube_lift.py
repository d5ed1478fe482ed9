# Reference program for cube_lift, written only against the CaP-X API (as an LLM would write it).
import numpy as np


def rotation_to_quat_wxyz(R):
    """Convert a 3x3 rotation matrix to a [w, x, y, z] quaternion."""
    w = np.sqrt(max(0.0, 1.0 + R[0, 0] + R[1, 1] + R[2, 2])) / 2.0
    x = np.sqrt(max(0.0, 1.0 + R[0, 0] - R[1, 1] - R[2, 2])) / 2.0
    y = np.sqrt(max(0.0, 1.0 - R[0, 0] + R[1, 1] - R[2, 2])) / 2.0
    z = np.sqrt(max(0.0, 1.0 - R[0, 0] - R[1, 1] + R[2, 2])) / 2.0
    x = np.copysign(x, R[2, 1] - R[1, 2])
    y = np.copysign(y, R[0, 2] - R[2, 0])
    z = np.copysign(z, R[1, 0] - R[0, 1])
    q = np.array([w, x, y, z])
    return q / np.linalg.norm(q)


obs = get_observation()
cam = obs["robot0_robotview"]
rgb = cam["images"]["rgb"]
depth = cam["images"]["depth"]
K = cam["intrinsics"]
cam_to_world = cam["pose_mat"]

results = segment_sam3_text_prompt(rgb, "red cube")
if not results:
    raise RuntimeError("red cube not found")
mask = max(results, key=lambda r: r["score"])["mask"]

poses, scores = plan_grasp(depth, K, mask)
print(f"{len(poses)} grasp candidates")

# Prefer top-down grasps: the approach (z) axis should point down in the world frame.
candidates = []
for pose, score in zip(poses, scores):
    world = cam_to_world @ pose
    if world[:3, 2] @ np.array([0.0, 0.0, -1.0]) > 0.8:
        candidates.append((score, world))
candidates.sort(key=lambda c: -c[0])
if not candidates:
    raise RuntimeError("no top-down grasp found")

# Take the best grasp whose approach, grasp and lift poses are all reachable.
plan = None
for score, grasp in candidates:
    position = grasp[:3, 3]
    quat = rotation_to_quat_wxyz(grasp[:3, :3])
    try:
        q_pre = solve_ik(position + np.array([0.0, 0.0, 0.10]), quat)
        q_grasp = solve_ik(position, quat)
        q_lift = solve_ik(position + np.array([0.0, 0.0, 0.15]), quat)
    except ValueError as err:
        print("skipping grasp:", err)
        continue
    plan = (q_pre, q_grasp, q_lift)
    print("grasp at", np.round(position, 3), "score", round(float(score), 3))
    break
if plan is None:
    raise RuntimeError("no reachable top-down grasp")

q_pre, q_grasp, q_lift = plan
open_gripper()
move_to_joints(q_pre)
move_to_joints(q_grasp)
close_gripper()
move_to_joints(q_lift)
print("lifted")
