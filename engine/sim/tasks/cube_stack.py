"""cube_stack: three coloured cubes; put the red cube on top of the green cube (blue is a distractor).

Success: the red cube rests on the green cube (its bottom face within 1 cm of the green top face,
centres within the green cube's half-size horizontally) and the gripper no longer holds it.
Reward (for a task where success is rare): 0.25 for lifting the red cube above the table,
plus up to 0.5 for bringing it over the green cube, 1.0 on success.
"""

from __future__ import annotations

import numpy as np

from engine.sim.tasks.base import TABLE_TOP_Z, ObjectSpec, Outcome, Placement, SceneView, Task

MIN_SEPARATION = 0.08


class CubeStack(Task):
    name = "cube_stack"
    goal = "stack the red cube on top of the green cube"
    objects = (
        ObjectSpec("red_cube", "red", (0.85, 0.12, 0.10, 1.0)),
        ObjectSpec("green_cube", "green", (0.15, 0.70, 0.20, 1.0), half_size_range=(0.024, 0.026)),
        ObjectSpec("blue_cube", "blue", (0.15, 0.25, 0.85, 1.0)),
    )
    primary = "red_cube"

    def place(self, rng: np.random.Generator) -> dict[str, Placement]:
        placements: dict[str, Placement] = {}
        centres: list[np.ndarray] = []
        for spec in self.objects:
            half = float(rng.uniform(*spec.half_size_range))
            for _ in range(1000):
                xy = rng.uniform(-0.10, 0.10, size=2)
                if all(np.linalg.norm(xy - c) >= MIN_SEPARATION for c in centres):
                    break
            centres.append(xy)
            yaw = float(rng.uniform(-np.pi, np.pi))
            placements[spec.name] = Placement(
                (float(xy[0]), float(xy[1]), TABLE_TOP_Z + half), yaw, half
            )
        return placements

    def evaluate(self, scene: SceneView) -> Outcome:
        red = scene.object_pos("red_cube")
        green = scene.object_pos("green_cube")
        lifted = red[2] - scene.object_half_size("red_cube") > TABLE_TOP_Z + 0.01
        horizontal = float(np.linalg.norm(red[:2] - green[:2]))
        stacked = scene.object_on("red_cube", "green_cube") and not scene.object_touches_gripper(
            "red_cube"
        )
        if stacked:
            return Outcome(True, 1.0, {"horizontal_offset": horizontal})
        reward = 0.25 * lifted + 0.5 * float(np.exp(-horizontal / 0.05)) * lifted
        return Outcome(False, float(min(reward, 0.99)), {"horizontal_offset": horizontal})
