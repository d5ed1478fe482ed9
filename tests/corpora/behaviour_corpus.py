"""Hand-written candidates for behavioural dedup: what each pair does is known by reading it."""

# Same behaviour, different code: both return the unit vector of their argument.
UNIT_DIVIDE = '''
def unit_vector(v):
    """The unit vector along v."""
    return v / np.linalg.norm(v)
'''
UNIT_SQRT = '''
def normalised(vec):
    """v scaled to length one."""
    length = np.sqrt(np.sum(vec * vec))
    out = vec / length
    return out
'''

# Same behaviour, different code: both move above a position by a clearance, the second with
# keyword arguments and an intermediate variable.
ABOVE_POSITIONAL = '''
def move_above(position, quat):
    """Move the hand 10 cm above a position."""
    q = solve_ik(position + np.array([0.0, 0.0, 0.1]), quat)
    move_to_joints(q)
    return q
'''
ABOVE_KEYWORDS = '''
def hover_over(target, quaternion):
    """Hover 0.1 m above the target."""
    goal = np.asarray(target, dtype=float).copy()
    goal[2] = goal[2] + 0.1
    joints = solve_ik(position=goal, quaternion_wxyz=quaternion)
    move_to_joints(joints=joints)
    return joints
'''

# Same AST shape, other constants: structural hashing merges these, their behaviour differs.
ABOVE_HIGHER = '''
def move_high_above(position, quat):
    """Move the hand 25 cm above a position."""
    q = solve_ik(position + np.array([0.0, 0.0, 0.25]), quat)
    move_to_joints(q)
    return q
'''
SCALE_HALF = '''
def scaled(v):
    """Half of v."""
    return v * 0.5
'''
SCALE_DOUBLE = '''
def doubled(v):
    """Twice v."""
    return v * 2.0
'''

# Uninformative: every probe raises (it wants a key no probe has); never merged with anything.
RAISES_A = '''
def lookup_a(obs):
    """Read a key no observation has."""
    return obs["no_such_key"]["x"]
'''
RAISES_B = '''
def lookup_b(obs):
    """Read another key no observation has."""
    return obs["missing"]
'''

# A candidate that calls another candidate (found through the seeded pool library).
HELPER = '''
def third_of(v):
    """Every entry divided by three."""
    return np.asarray(v, dtype=float) / 3.0
'''
CALLS_OTHER = '''
def unit_then_scale(v):
    """A third of v, plus one in every entry."""
    h = third_of(v)
    return h + 1.0
'''
