# A CaP-X-style program with keyword arguments (CaP-X's parameter names) and scipy's Rotation.
import numpy as np
from scipy.spatial.transform import Rotation

observation = get_observation()
cam = observation["robot0_robotview"]
rgb = cam["images"]["rgb"]

masks = segment_sam3_text_prompt(rgb=rgb, text_prompt="red cube")
mask = max(masks, key=lambda m: m["score"])["mask"]
grasp_poses, grasp_scores = plan_grasp(
    depth=cam["images"]["depth"], intrinsics=cam["intrinsics"], segmentation=mask
)
world_grasps = [cam["pose_mat"] @ g for g in grasp_poses]
top_down = [i for i, g in enumerate(world_grasps) if g[:3, 2] @ np.array([0.0, 0.0, -1.0]) > 0.8]
best = max(top_down, key=lambda i: grasp_scores[i])
grasp = world_grasps[best]

x, y, z, w = Rotation.from_matrix(grasp[:3, :3]).as_quat()
quat_wxyz = np.array([w, x, y, z])
target = grasp[:3, 3]

open_gripper()
for height in (0.10, 0.0):
    joints = solve_ik(position=target + np.array([0.0, 0.0, height]), quaternion_wxyz=quat_wxyz)
    move_to_joints(joints=joints)
close_gripper()
move_to_joints(joints=solve_ik(position=target + [0.0, 0.0, 0.15], quaternion_wxyz=quat_wxyz))
print("gripper at", np.round(get_observation()["robot_cartesian_pos"][:3], 3))
