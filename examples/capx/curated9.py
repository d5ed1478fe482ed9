# A CaP-X-style program for the curated-9 library condition: run it with
#   autocapx sim run examples/capx/curated9.py --library curated9
import numpy as np

cam = get_observation()["robot0_robotview"]
rgb, depth = cam["images"]["rgb"], cam["images"]["depth"]
K, pose_mat = cam["intrinsics"], cam["pose_mat"]

mask = max(segment_sam3_text_prompt(rgb, "red cube"), key=lambda r: r["score"])["mask"]
points = mask_to_world_points(mask, depth, K, pose_mat)
print("cube points:", len(points), "centre", np.round(points.mean(axis=0), 3))

grasps, scores = plan_grasp(depth, K, mask)
grasp_world, score = select_top_down_grasp(grasps, scores, cam_to_world=pose_mat)
if grasp_world is None:
    raise RuntimeError("no top-down grasp")
position, quat = decompose_transform(grasp_world)

open_gripper()
above = position + 0.1 * normalize_vector(np.array([0.0, 0.0, 1.0]))
move_to_joints(solve_ik(above, quat))
for waypoint in interpolate_segment(above, position, step=0.05):
    move_to_joints(solve_ik(waypoint, quat))
close_gripper()
move_to_joints(solve_ik(position + np.array([0.0, 0.0, 0.15]), quat))
print("lifted")
