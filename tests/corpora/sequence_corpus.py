"""Programs that do the same perceive-grasp-move steps inline (no ``def``), with other variable
names and another approach height in each: the saturation regime, where mining defs finds
nothing."""

PROGRAM_A = """
import numpy as np
obs = get_observation()
cam = obs["robot0_robotview"]
masks = segment_sam3_text_prompt(cam["images"]["rgb"], "red cube")
poses, scores = plan_grasp(cam["images"]["depth"], cam["intrinsics"], masks[0]["mask"])
best = cam["pose_mat"] @ poses[scores.argmax()]
q = solve_ik(best[:3, 3] + np.array([0.0, 0.0, {height}]), np.array([0.0, 1.0, 0.0, 0.0]))
move_to_joints(q)
close_gripper()
print("lifted", q)
"""

PROGRAM_B = """
import numpy as np
print("starting")
o = get_observation()
c = o["robot0_robotview"]
found = segment_sam3_text_prompt(c["images"]["rgb"], "red cube")
g, s = plan_grasp(c["images"]["depth"], c["intrinsics"], found[0]["mask"])
w = c["pose_mat"] @ g[s.argmax()]
joints = solve_ik(w[:3, 3] + np.array([0.0, 0.0, {height}]), np.array([0.0, 1.0, 0.0, 0.0]))
move_to_joints(joints)
close_gripper()
print(joints)
"""

UNRELATED = """
open_gripper()
x = get_observation()
print(x["robot_joint_pos"])
"""
