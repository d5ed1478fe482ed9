"""Every prompt template of a trial, and the rules that read the LLM's replies.

Follows CaP-X's protocol: one system message and one user message; after each executed block
the user message is rebuilt from the initial prompt (no growing chat) plus all code executed so
far, the last block's stdout/stderr and a description of what changed, then the instruction to
answer with exactly one of REGENERATE (+ a fenced python block) or FINISH.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SYSTEM_PROMPT = "You are a helpful assistant that generates Python code to directly solve the task."

TASK_PROMPT = """\
You are controlling a Franka Emika Panda robot arm through the Python API below.
Goal: {goal}.
Write only executable Python code (comments are allowed): no code fences, no explanations.
After your code runs you will see its stdout and stderr and may write new code.
The API functions below are already imported; import numpy yourself if you need it.
"""

API_HEADER = "APIs:"

SCENE_DESCRIPTION = "\nInitial scene description:\n{description}\n"

MULTI_TURN = """\
{initial}
Code executed so far in this trial (variables persist between blocks):
```python
{code_so_far}
```

Output of the last code block:
stdout:
{stdout}
stderr:
{stderr}

{change_title}:
{change}

Respond with EXACTLY ONE of:
REGENERATE, followed by a ```python code block with the next code to run, or
FINISH, if the task is complete.
"""

SCENE_CHANGE_TITLE = "Scene change during the last block"
VISUAL_CHANGE_TITLE = "Visual difference between the frames before and after the last block"

VISUAL_DIFF_PROMPT = """\
The two images show a robot workspace before and after a block of robot code ran.
The task is: {goal}. Describe concisely what changed (objects moved, gripper state,
whether the object is lifted) and whether the task now looks complete."""

EMPTY = "(empty)"


@dataclass(frozen=True)
class PromptTemplates:
    """The templates in force for a trial; override any of them from config."""

    system: str = SYSTEM_PROMPT
    task: str = TASK_PROMPT
    multi_turn: str = MULTI_TURN
    visual_diff: str = VISUAL_DIFF_PROMPT


def initial_prompt(
    goal: str, api_docs: str, templates: PromptTemplates = PromptTemplates(), scene: str = ""
) -> str:
    """Task prompt, ``APIs:`` and the API (+ library) docs; optionally a scene description."""
    text = templates.task.format(goal=goal) + API_HEADER + "\n" + api_docs + "\n"
    if scene:
        text += SCENE_DESCRIPTION.format(description=scene)
    return text


def follow_up_prompt(
    initial: str,
    code_so_far: list[str],
    stdout: str,
    stderr: str,
    change: str,
    *,
    visual: bool = False,
    templates: PromptTemplates = PromptTemplates(),
) -> str:
    """The rebuilt user message after a block ran."""
    return templates.multi_turn.format(
        initial=initial,
        code_so_far="\n\n".join(c.strip("\n") for c in code_so_far) or "# (none)",
        stdout=stdout.rstrip("\n") or EMPTY,
        stderr=stderr.rstrip("\n") or EMPTY,
        change_title=VISUAL_CHANGE_TITLE if visual else SCENE_CHANGE_TITLE,
        change=change.rstrip("\n") or EMPTY,
    )


def messages(user: str, templates: PromptTemplates = PromptTemplates()) -> list[dict]:
    return [{"role": "system", "content": templates.system}, {"role": "user", "content": user}]


_FENCE_OPEN = re.compile(r"```[ \t]*python[^\n]*\n", re.IGNORECASE)
_ANY_FENCE_OPEN = re.compile(r"```[^\n]*\n")


def extract_code(reply: str) -> str:
    """Text after the first python fence up to the last closing fence; no fence -> the whole reply.

    A reply cut off before its closing fence keeps everything after the opening fence. A bare
    ``` fence counts when there is no ```python one.
    """
    match = _FENCE_OPEN.search(reply) or _ANY_FENCE_OPEN.search(reply)
    if not match:
        return reply.strip("\n")
    rest = reply[match.end() :]
    end = rest.rfind("```")
    return (rest[:end] if end >= 0 else rest).strip("\n")


def parse_decision(reply: str) -> str:
    """``"regenerate"`` if the reply contains REGENERATE, otherwise ``"finish"`` (CaP-X's rule)."""
    return "regenerate" if "REGENERATE" in reply else "finish"
