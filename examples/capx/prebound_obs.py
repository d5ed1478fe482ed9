# A CaP-X-style program: it starts from the `obs` CaP-X binds before every block (depth is
# (H, W, 1) there), as CaP-X's own docstring examples do, and never calls get_observation().
import numpy as np

cam = obs["robot0_robotview"]
rgb = cam["images"]["rgb"]
depth = cam["images"]["depth"]
K = cam["intrinsics"]
pose_mat = cam["pose_mat"]

sam3_results = segment_sam3_text_prompt(rgb, "red cube")
best = max(sam3_results, key=lambda d: d["score"])
grasp_poses, grasp_scores = plan_grasp(depth, K, best["mask"])

# The best-scoring grasp that approaches from above (its z axis points down in the robot frame).
grasp = None
for idx in np.argsort(-grasp_scores):
    candidate = pose_mat @ grasp_poses[idx]
    if candidate[2, 2] < -0.8:
        grasp = candidate
        break
if grasp is None:
    raise RuntimeError("no top-down grasp")

R = grasp[:3, :3]
w = np.sqrt(max(0.0, 1.0 + R[0, 0] + R[1, 1] + R[2, 2])) / 2.0
x = np.copysign(np.sqrt(max(0.0, 1.0 + R[0, 0] - R[1, 1] - R[2, 2])) / 2.0, R[2, 1] - R[1, 2])
y = np.copysign(np.sqrt(max(0.0, 1.0 - R[0, 0] + R[1, 1] - R[2, 2])) / 2.0, R[0, 2] - R[2, 0])
z = np.copysign(np.sqrt(max(0.0, 1.0 - R[0, 0] - R[1, 1] + R[2, 2])) / 2.0, R[1, 0] - R[0, 1])
quat = np.array([w, x, y, z]) / np.linalg.norm([w, x, y, z])
position = grasp[:3, 3]

open_gripper()
move_to_joints(solve_ik(position + np.array([0.0, 0.0, 0.1]), quat))
move_to_joints(solve_ik(position, quat))
close_gripper()
move_to_joints(solve_ik(position + np.array([0.0, 0.0, 0.15]), quat))
print("lifted")
