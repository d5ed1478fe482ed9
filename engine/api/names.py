"""The ten API function names, in CaP-X's order (a light module: no simulator import)."""

API_NAMES = (
    "get_observation",
    "point_prompt_molmo",
    "segment_sam3_text_prompt",
    "segment_sam3_point_prompt",
    "plan_grasp",
    "get_oriented_bounding_box_from_3d_points",
    "solve_ik",
    "move_to_joints",
    "open_gripper",
    "close_gripper",
)
