"""Prompt templates and the protocol rules for reading replies (CaP-X's)."""

from __future__ import annotations

import pytest

from engine.trial.feedback import scene_diff
from engine.trial.prompts import (
    SYSTEM_PROMPT,
    extract_code,
    follow_up_prompt,
    initial_prompt,
    messages,
    parse_decision,
)


@pytest.mark.parametrize(
    "reply, code",
    [
        ("x = 1\nprint(x)", "x = 1\nprint(x)"),
        ("REGENERATE\n```python\nx = 2\n```", "x = 2"),
        (
            "Sure:\n```python\na = 1\n```\nthen\n```python\nb = 2\n```\nDone.",
            "a = 1\n```\nthen\n```python\nb = 2",
        ),
        ("```Python\ny = 3\n```", "y = 3"),
        ("```\nz = 4\n```", "z = 4"),
        ("REGENERATE\n```python\ncut = 1\nmore = 2", "cut = 1\nmore = 2"),  # no closing fence
    ],
)
def test_code_is_taken_from_the_first_python_fence_to_the_last_fence(reply: str, code: str) -> None:
    assert extract_code(reply) == code


@pytest.mark.parametrize(
    "reply, decision",
    [
        ("REGENERATE\n```python\nx\n```", "regenerate"),
        ("I will REGENERATE the code", "regenerate"),
        ("FINISH", "finish"),
        ("The task is complete.", "finish"),
        ("", "finish"),
        ("regenerate", "finish"),  # the keyword is case-sensitive, as in CaP-X
    ],
)
def test_anything_without_regenerate_counts_as_finish(reply: str, decision: str) -> None:
    assert parse_decision(reply) == decision


def test_the_follow_up_is_rebuilt_from_the_initial_prompt() -> None:
    first = initial_prompt(
        "pick up the red cube and lift it", "get_observation()\n  Doc:\n    Look."
    )
    assert (
        "Goal: pick up the red cube and lift it." in first and "\nAPIs:\nget_observation()" in first
    )
    follow = follow_up_prompt(first, ["a = 1", "b = 2"], "out line\n", "", "task success: no")
    assert follow.startswith(first)
    assert "```python\na = 1\n\nb = 2\n```" in follow
    assert "stdout:\nout line\nstderr:\n(empty)" in follow
    assert follow.rstrip().endswith("FINISH, if the task is complete.")
    assert "task success: no" in follow
    msgs = messages(follow)
    assert msgs[0] == {"role": "system", "content": SYSTEM_PROMPT} and msgs[1]["content"] == follow


def test_scene_diff_reports_motion_gripper_and_success() -> None:
    before = {
        "objects": {
            "cube": {
                "pos": [0, 0, 0.82],
                "height": 0.0,
                "touching_gripper": False,
                "grasped": False,
            }
        },
        "gripper": "open",
        "gripper_width": 0.08,
        "tcp": [0, 0, 1.0],
        "step": 0,
        "success": False,
    }
    after = {
        "objects": {
            "cube": {"pos": [0, 0, 0.97], "height": 0.15, "touching_gripper": True, "grasped": True}
        },
        "gripper": "closed",
        "gripper_width": 0.042,
        "tcp": [0, 0, 0.97],
        "step": 86,
        "success": True,
    }
    text = scene_diff(before, after, "cube")
    assert "- cube: moved 15.0 cm; height above table 0.0 cm -> 15.0 cm" in text
    assert "held between the fingers: yes" in text
    assert "- gripper: open -> closed (finger opening 4.2 cm)" in text
    assert "control steps used: 86" in text
    assert text.endswith("cube height: 0.150 m above the table\ntask success: yes")
