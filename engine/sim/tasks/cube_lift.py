"""cube_lift: pick up the red cube and lift it (CaP-X ``cube_lifting``).

Success: the cube centre is more than 4 cm above the table top after the last executed block.
Reward: robosuite Lift's shaped reward on CaP-X's scale: 1.0 on success, otherwise
(1 - tanh(10 d) + 0.25 [grasped]) / 2.25 with d the TCP-to-cube distance in metres (about 0.014
for an untouched cube under the arm at rest, 0.555 for a cube held but not yet lifted).
"""

from __future__ import annotations

import math

import numpy as np

from engine.sim.tasks.base import TABLE_TOP_Z, ObjectSpec, Outcome, Placement, SceneView, Task

LIFT_MARGIN = 0.04
REACH_SCALE = 10.0
"""robosuite Lift: reaching reward 1 - tanh(10 d)."""
GRASP_BONUS = 0.25
SHAPED_MAX = 2.25
"""robosuite Lift's largest shaped reward; CaP-X's rewards are divided by it."""


def shaped_reward(distance_m: float, grasped: bool) -> float:
    """robosuite Lift's shaped reward for a cube not yet lifted, scaled to [0, 1) as in CaP-X."""
    return (1.0 - math.tanh(REACH_SCALE * distance_m) + GRASP_BONUS * grasped) / SHAPED_MAX


class CubeLift(Task):
    name = "cube_lift"
    goal = "pick up the red cube and lift it"
    objects = (ObjectSpec("cube", "red", (0.85, 0.12, 0.10, 1.0)),)
    primary = "cube"

    def place(self, rng: np.random.Generator) -> dict[str, Placement]:
        half = float(rng.uniform(*self.objects[0].half_size_range))
        x, y = rng.uniform(-0.03, 0.03, size=2)
        yaw = float(rng.uniform(-np.pi, np.pi))
        return {"cube": Placement((float(x), float(y), TABLE_TOP_Z + half), yaw, half)}

    def evaluate(self, scene: SceneView) -> Outcome:
        cube = scene.object_pos("cube")
        z = float(cube[2])
        success = z - TABLE_TOP_Z > LIFT_MARGIN
        if success:
            return Outcome(True, 1.0, {"cube_z": z})
        distance = float(np.linalg.norm(scene.tcp_position() - cube))
        return Outcome(False, shaped_reward(distance, scene.object_grasped("cube")), {"cube_z": z})
