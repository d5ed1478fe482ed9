"""cube_lift: pick up the red cube and lift it (CaP-X ``cube_lifting``).

Success: the cube centre is more than 4 cm above the table top after the last executed block.
Reward: 1.0 on success, otherwise min((cube_z - table_z) / 0.04, 1) clipped at 0.
"""

from __future__ import annotations

import numpy as np

from engine.sim.tasks.base import TABLE_TOP_Z, ObjectSpec, Outcome, Placement, SceneView, Task

LIFT_MARGIN = 0.04


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
        z = float(scene.object_pos("cube")[2])
        lift = z - TABLE_TOP_Z
        success = lift > LIFT_MARGIN
        reward = 1.0 if success else float(np.clip(lift / LIFT_MARGIN, 0.0, 1.0))
        return Outcome(success, reward, {"cube_z": z})
