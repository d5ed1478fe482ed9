"""What the LLM is told changed during a block: a text diff of two scene snapshots.

Snapshots come from the simulator (:meth:`engine.sim.simulator.Simulator.snapshot`): object
positions and heights, contacts, gripper state, step counter and success so far. The last two
lines (``cube height`` and ``task success``) have a fixed form that tools may rely on.
"""

from __future__ import annotations

import math


def _cm(metres: float) -> str:
    return f"{metres * 100:.1f} cm"


def scene_diff(before: dict, after: dict, primary: str) -> str:
    """Human-readable change between two snapshots, one fact per line."""
    lines: list[str] = []
    for name, obj in after.get("objects", {}).items():
        prev = before.get("objects", {}).get(name, obj)
        moved = math.dist(prev["pos"], obj["pos"])
        facts = [
            f"moved {_cm(moved)}" if moved >= 0.005 else "did not move",
            f"height above table {_cm(prev['height'])} -> {_cm(obj['height'])}",
            f"touching gripper: {'yes' if obj['touching_gripper'] else 'no'}",
            f"held between the fingers: {'yes' if obj['grasped'] else 'no'}",
        ]
        lines.append(f"- {name.replace('_', ' ')}: " + "; ".join(facts))
    g0, g1 = before.get("gripper"), after.get("gripper")
    width = f"(finger opening {_cm(after.get('gripper_width', 0.0))})"
    lines.append(
        f"- gripper: {g0} -> {g1} {width}" if g0 != g1 else f"- gripper: stayed {g1} {width}"
    )
    tcp_moved = math.dist(before.get("tcp", [0, 0, 0]), after.get("tcp", [0, 0, 0]))
    lines.append(f"- gripper tip moved {_cm(tcp_moved)}")
    steps = after.get("step", 0) - before.get("step", 0)
    lines.append(f"- control steps used: {steps} (episode total {after.get('step', 0)})")
    height = after.get("objects", {}).get(primary, {}).get("height")
    if height is not None:
        lines.append(f"cube height: {height:.3f} m above the table")
    lines.append(f"task success: {'yes' if after.get('success') else 'no'}")
    return "\n".join(lines)
