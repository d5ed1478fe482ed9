"""Prompt texts, CaP-X prompt files, and the protocol rules for reading replies (CaP-X's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import UserError
from engine.trial.feedback import scene_diff
from engine.trial.prompts import (
    BUILT_IN,
    SYSTEM_PROMPT,
    extract_code,
    follow_up_prompt,
    initial_prompt,
    load_prompt_set,
    messages,
    parse_decision,
    regenerated_code,
)

# A prompt file in the layout of CaP-X's env configs (our own wording, CaP-X's keys and
# placeholders): the prompts live under env.cfg next to keys that are not prompts.
CAPX_STYLE_CONFIG = """\
env:
  _target_: capx.envs.tasks.franka.franka_lift.FrankaLiftCodeEnv
  cfg:
    _target_: capx.envs.tasks.base.CodeExecEnvConfig
    privileged: false
    apis:
      - FrankaControlApiReduced
    prompt: |
      Drive the Franka arm with the functions listed below.
      Goal: raise the red cube off the table.
      Reply with plain Python only.
    multi_turn_prompt: |
      Ran so far:
      ```python
      {executed_code}
      ```
      stdout:
      ```
      {console_stdout}
      ```
      stderr:
      ```
      {console_stderr}
      ```
      Reply REGENERATE with a ```python block, or FINISH.
trials: 100
"""


@pytest.mark.parametrize(
    "reply, code",
    [
        ("x = 1\nprint(x)\n", "x = 1\nprint(x)"),  # no fence: the whole reply, stripped
        ("```python\nx = 2\n```", "x = 2"),
        (
            "Sure:\n```python\na = 1\n```\nthen\n```python\nb = 2\n```\nDone.",
            "a = 1\n```\nthen\n```python\nb = 2",  # first python fence to the LAST fence
        ),
        ("```Python\ny = 3\n```", "```Python\ny = 3"),  # CaP-X's fence is exactly ```python
        ("```\nz = 4\n```", "```\nz = 4"),  # a bare fence opens nothing either
        ("```python\ncut = 1\nmore = 2", "cut = 1\nmore = 2"),  # no closing fence
    ],
)
def test_code_is_extracted_by_capx_rule(reply: str, code: str) -> None:
    assert extract_code(reply) == code


def test_regenerate_takes_the_code_between_the_first_two_regenerates() -> None:
    reply = "Plan.\nREGENERATE\n```python\nx = 1\n```\nor else REGENERATE\n```python\ny\n```"
    assert regenerated_code(reply) == "x = 1"


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


def test_the_first_message_has_capx_layout() -> None:
    first = initial_prompt(
        "pick up the red cube and lift it", "get_observation()\n  Doc:\n    Look."
    )
    task = BUILT_IN.prompt.replace("{goal}", "pick up the red cube and lift it")
    assert first == task + "\nAPIs:\n\nget_observation()\n  Doc:\n    Look."
    assert "Goal: pick up the red cube and lift it." in first
    with_scene = initial_prompt("g", "docs", scene="A red cube on a table.")
    assert with_scene.endswith(
        "\n\nThe initial state of the environment, as a vision model "
        "describes it:\nA red cube on a table."
    )


def test_the_follow_up_is_rebuilt_from_the_first_message_and_carries_only_code_and_output() -> None:
    first = initial_prompt("lift it", "docs")
    follow = follow_up_prompt(first, ["a = 1", "b = 2"], "out line\n", "Traceback ...\n")
    code = BUILT_IN.multi_turn_prompt.format(
        executed_code="a = 1\nb = 2", console_stdout="out line\n", console_stderr="Traceback ...\n"
    )
    # CaP-X collapses the parts, each followed by a newline
    assert follow == f"{first}\n{code}\n{BUILT_IN.decision_prompt}\n"
    msgs = messages(follow)
    assert msgs[0] == {"role": "system", "content": SYSTEM_PROMPT} and msgs[1]["content"] == follow


def test_no_default_follow_up_prompt_carries_simulator_state() -> None:
    """The built-in texts mention nothing the simulator knows and the program did not print."""
    first = initial_prompt("pick up the red cube and lift it", "docs")
    follow = follow_up_prompt(first, ["print('hi')"], "hi\n", "")
    for leak in ("task success", "cube height", "held between", "touching", "reward", "moved"):
        assert leak not in follow.lower()


def test_a_capx_env_config_loads_with_its_placeholders_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "lift.yaml"
    path.write_text(CAPX_STYLE_CONFIG)
    prompts = load_prompt_set(path)
    assert prompts.prompt.startswith("Drive the Franka arm") and prompts.source == str(path)
    assert "{executed_code}" in prompts.multi_turn_prompt
    assert prompts.system_prompt == SYSTEM_PROMPT  # CaP-X's files do not set it
    follow = follow_up_prompt(
        initial_prompt("unused goal", "docs", prompts), ["x = 1"], "", "NameError: y\n", (), prompts
    )
    assert "Ran so far:\n```python\nx = 1\n```" in follow
    assert "stderr:\n```\nNameError: y\n\n```" in follow
    assert follow.startswith("Drive the Franka arm with the functions listed below.\n")


@pytest.mark.parametrize(
    "text, message",
    [
        ("prompt: [1, 2]\n", "prompt must be a non-empty string"),
        ("multi_turn_prompt: 'code {executed_code} {oops}'\n", "unknown placeholder {oops}"),
        ("multi_turn_prompt: 'a { b'\n", "not a valid template"),
        ("promt: hi\n", "unknown key 'promt'"),
        ("- a list\n", "must be a mapping"),
        ("prompt: 'x\n", "not valid YAML"),
        ("env: {cfg: {apis: []}}\n", "no prompt found"),
    ],
)
def test_bad_prompt_files_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as info:
        load_prompt_set(path)
    assert "\n" not in str(info.value)


def test_api_docs_shows_the_prompt_set_from_a_file(tmp_path: Path, capsys) -> None:
    import json

    path = tmp_path / "lift.yaml"
    path.write_text(CAPX_STYLE_CONFIG)
    assert main(["api-docs", "--prompts", str(path), "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["source"] == str(path)
    assert view["initial_prompt"].startswith("Drive the Franka arm")
    assert (
        "\nAPIs:\n\nget_observation() -> dict[str, typing.Any]\n  Doc:\n" in view["initial_prompt"]
    )
    assert view["multi_turn_prompt"].startswith("Ran so far:")


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
