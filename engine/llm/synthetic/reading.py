"""What the synthetic coder reads in its prompt: the turn, library skills, its code, output, errors.

It sees only the prompt text, like any backend, and relies on the protocol and on what its own
programs print, never on the simulator or on the wording of the prompt templates: a follow-up is
a prompt that asks for REGENERATE or FINISH (the protocol's words); its own code starts with the
line its programs begin with; whether a block worked comes from the ``lift check:`` line its
programs print after looking at the scene again, and from Python's exception lines.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from engine.api.names import API_NAMES as _API_NAMES

API_NAMES = frozenset(_API_NAMES)

PROGRAM_START = "import numpy as np\n"
"""The first line of every program the coder writes: where its own code begins in a prompt."""
LIFT_CHECK = re.compile(r"^lift check: the cube rose (-?\d+\.\d+) m", re.M)
NOT_VISIBLE = "lift check: the cube is not visible"
EXCEPTION = re.compile(r"^(\w+(?:Error|Exception|Exit|Interrupt|Violation)):? ?(.*)$", re.M)
ENTRY = re.compile(r"^(\w+)(\(.*)$", re.M)


@dataclass
class Reading:
    follow_up: bool
    skills: dict[str, list[str]] = field(default_factory=dict)
    """Library functions listed beyond the ten API ones: name -> parameter names."""
    rise: float | None = None
    """How far the cube rose, as the last block's own lift check measured it (m)."""
    cube_unseen: bool = False
    """The last lift check could not find the cube in the image."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    code_so_far: str = ""
    output: str = ""
    """Everything after the code: the latest block's stdout and stderr."""


def _entry_params(line: str) -> tuple[str, list[str]] | None:
    """(name, parameter names) if ``line`` is an API-doc signature line, else None."""
    match = ENTRY.match(line)
    if not match:
        return None
    try:
        tree = ast.parse(f"def {match.group(1)}{match.group(2)}: pass")
    except SyntaxError:
        return None
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    args = fn.args
    return fn.name, [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]


def read_prompt(messages: list[dict]) -> Reading:
    text = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    start = text.find(PROGRAM_START)
    api_part = text if start < 0 else text[:start]
    skills = {}
    for line in api_part.splitlines():
        entry = _entry_params(line)
        if entry and entry[0] not in API_NAMES:
            skills[entry[0]] = entry[1]
    reading = Reading(follow_up="REGENERATE" in text and "FINISH" in text, skills=skills)
    if not reading.follow_up:
        return reading
    rest = text[start:] if start >= 0 else text
    end = rest.find("```") if start >= 0 else 0
    reading.code_so_far = rest if end < 0 else rest[:end]
    # Output and error lines start at column 0, where neither indented API docs nor the code's
    # own print statements can match, so the rest of the prompt can be searched as it is.
    reading.output = "" if end < 0 else rest[end:]
    checks = LIFT_CHECK.findall(reading.output)
    reading.rise = float(checks[-1]) if checks else None
    reading.cube_unseen = NOT_VISIBLE in reading.output
    reading.errors = EXCEPTION.findall(reading.output)
    return reading
