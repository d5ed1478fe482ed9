"""Hand-written trial code for the skill tests: each block is what an LLM might have written."""

QUAT_DOC = '''
def quat_from_matrix(R):
    """Convert a rotation matrix to a [w, x, y, z] quaternion."""
    w = np.sqrt(max(0.0, 1.0 + R[0, 0] + R[1, 1] + R[2, 2])) / 2.0
    x = (R[2, 1] - R[1, 2]) / (4 * w)
    y = (R[0, 2] - R[2, 0]) / (4 * w)
    z = (R[1, 0] - R[0, 1]) / (4 * w)
    return np.array([w, x, y, z])
'''

# Same structure, other names and constants: structurally identical to QUAT_DOC.
QUAT_RENAMED_NODOC = """
def rotmat_to_quat(M):
    w = np.sqrt(max(0.0, 1.5 + M[0, 0] + M[1, 1] + M[2, 2])) / 3.0
    x = (M[2, 1] - M[1, 2]) / (4 * w)
    y = (M[0, 2] - M[2, 0]) / (4 * w)
    z = (M[1, 0] - M[0, 1]) / (4 * w)
    return np.array([w, x, y, z])
"""

TOPDOWN = '''
def top_down_grasps(poses, scores, cam_to_world, min_dot=0.8):
    """World-frame grasps whose approach axis points down, best first."""
    out = []
    for pose, score in zip(poses, scores):
        world = cam_to_world @ pose
        if world[:3, 2] @ np.array([0.0, 0.0, -1.0]) > min_dot:
            out.append((score, world))
    out.sort(key=lambda item: -item[0])
    return [w for _, w in out]
'''

# Calls another skill: needs namespace seeding to work.
PICK_QUAT = '''
def grasp_quaternion(grasp):
    """Quaternion [w, x, y, z] of a world-frame grasp pose."""
    R = grasp[:3, :3]
    q = quat_from_matrix(R)
    return q / np.linalg.norm(q)
'''

TASK_NAMED = '''
def lift_red_cube(height):
    """Lift the red cube by height."""
    q = solve_ik(np.array([0.55, 0.0, -0.09 + height]), np.array([0.0, 1.0, 0.0, 0.0]))
    move_to_joints(q)
    return q
'''

HARD_CODED = '''
def move_above_target(quat):
    """Move above the usual target position."""
    q = solve_ik(np.array([0.55, 0.02, 0.05]), quat)
    move_to_joints(q)
    return q
'''

MAGIC = '''
def approach(position, quat):
    """Approach a position from above."""
    q1 = solve_ik(position + 0.137, quat)
    q2 = solve_ik(position + 0.093, quat)
    move_to_joints(q1 * 0.731)
    move_to_joints(q2)
'''

USES_GLOBAL = '''
def go_to_grasp():
    """Move to the grasp chosen earlier."""
    q = solve_ik(position, quat)
    move_to_joints(q)
    return q
'''

MISSING_DEP = '''
def lift_by(q_now, dz):
    """Lift the gripper by dz metres from a joint configuration."""
    pose = forward_kinematics(q_now)
    target = pose[:3, 3] + np.array([0.0, 0.0, dz])
    return solve_ik(target, pose_to_quat(pose))
'''

TOO_SHORT = """
def ident(x):
    return x
"""

BROKEN = '''
def broken(x):
    """Never finished."""
    return (x +
'''


def program(*parts: str, body: str = "x = 1\n") -> str:
    return "import numpy as np\n" + "\n".join(parts) + "\n" + body
