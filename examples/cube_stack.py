# Reference program for cube_stack (red cube onto the green cube), written only against the CaP-X API.
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


def top_down_grasps(depth, K, cam_to_world, mask):
    """World-frame top-down grasp poses for a mask, best first."""
    poses, scores = plan_grasp(depth, K, mask)
    out = []
    for pose, score in zip(poses, scores):
        world = cam_to_world @ pose
        if world[:3, 2] @ np.array([0.0, 0.0, -1.0]) > 0.8:
            out.append((score, world))
    out.sort(key=lambda c: -c[0])
    return [w for _, w in out]


obs = get_observation()
cam = obs["robot0_robotview"]
rgb, depth = cam["images"]["rgb"], cam["images"]["depth"]
K, cam_to_world = cam["intrinsics"], cam["pose_mat"]

red = max(segment_sam3_text_prompt(rgb, "red cube"), key=lambda r: r["score"])["mask"]
green = max(segment_sam3_text_prompt(rgb, "green cube"), key=lambda r: r["score"])["mask"]

# Height of the green cube's top face: the highest world points of its mask.
pts = np.stack(np.nonzero(green), axis=1)
z = depth[pts[:, 0], pts[:, 1]]
cam_pts = np.stack(
    [(pts[:, 1] - K[0, 2]) * z / K[0, 0], (pts[:, 0] - K[1, 2]) * z / K[1, 1], z], axis=1
)
world_pts = cam_pts @ cam_to_world[:3, :3].T + cam_to_world[:3, 3]
green_top = np.percentile(world_pts[:, 2], 98)
green_centre = top_down_grasps(depth, K, cam_to_world, green)[0][:3, 3]
print("green top at", round(float(green_top), 3))

plan = None
for grasp in top_down_grasps(depth, K, cam_to_world, red):
    position = grasp[:3, 3]
    quat = rotation_to_quat_wxyz(grasp[:3, :3])
    table_z = green_centre[2] - (green_top - green_centre[2])
    red_half = position[2] - table_z  # the grasp is at the red cube's centre
    place = np.array([green_centre[0], green_centre[1], green_top + red_half + 0.01])
    try:
        q_pre = solve_ik(position + np.array([0.0, 0.0, 0.10]), quat)
        q_grasp = solve_ik(position, quat)
        q_carry = solve_ik(place + np.array([0.0, 0.0, 0.08]), quat)
        q_place = solve_ik(place, quat)
    except ValueError as err:
        print("skipping grasp:", err)
        continue
    plan = (q_pre, q_grasp, q_carry, q_place)
    break
if plan is None:
    raise RuntimeError("no reachable grasp and place")

q_pre, q_grasp, q_carry, q_place = plan
open_gripper()
move_to_joints(q_pre)
move_to_joints(q_grasp)
close_gripper()
move_to_joints(q_pre)
move_to_joints(q_carry)
move_to_joints(q_place)
open_gripper()
move_to_joints(q_carry)
print("placed")
