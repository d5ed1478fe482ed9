"""What the synthetic coder reads in its prompt: turn, library skills, errors, success.

It is a backend like any other: it sees only the prompt text. These patterns match the trial
engine's feedback format (:mod:`engine.trial.feedback`, :mod:`engine.trial.prompts`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.api.names import API_NAMES as _API_NAMES

API_NAMES = frozenset(_API_NAMES)

FOLLOW_UP_MARKER = "Respond with EXACTLY ONE of"
SUCCESS = re.compile(r"^task success: (yes|no)\s*$", re.M | re.I)
HEIGHT = re.compile(r"^cube height: (-?[\d.]+) m", re.M | re.I)
ENTRY = re.compile(r"^(\w+)\((.*)\)\n  Doc:", re.M)
EXCEPTION = re.compile(r"^(\w+(?:Error|Exception|Exit|Interrupt|Violation)):? ?(.*)$", re.M)
CODE_SO_FAR = re.compile(r"Code executed so far.*?```python\n(.*?)\n```", re.S)
STDERR = re.compile(r"\nstderr:\n(.*?)\n\n(?:Scene change|Visual difference)", re.S)


@dataclass
class Reading:
    follow_up: bool
    skills: dict[str, list[str]] = field(default_factory=dict)
    """Library functions listed beyond the ten API ones: name -> parameter names."""
    success: bool | None = None
    height: float | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)
    code_so_far: str = ""
    stderr: str = ""
    goal: str = ""


def _params(signature: str) -> list[str]:
    names = []
    for part in signature.split(","):
        part = part.strip()
        if part and not part.startswith("*"):
            names.append(part.split("=")[0].split(":")[0].strip())
    return names


def read_prompt(messages: list[dict]) -> Reading:
    text = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    api_part = text.split("Code executed so far")[0]
    skills = {name: _params(sig) for name, sig in ENTRY.findall(api_part) if name not in API_NAMES}
    reading = Reading(follow_up=FOLLOW_UP_MARKER in text, skills=skills)
    goal = re.search(r"^Goal: (.*)\.$", text, re.M)
    reading.goal = goal.group(1) if goal else ""
    if reading.follow_up:
        tail = text.split("Code executed so far", 1)[1]
        found = SUCCESS.findall(tail)
        reading.success = found[-1].lower() == "yes" if found else None
        height = HEIGHT.findall(tail)
        reading.height = float(height[-1]) if height else None
        code = CODE_SO_FAR.search(text)
        reading.code_so_far = code.group(1) if code else ""
        err = STDERR.search(tail)
        reading.stderr = err.group(1) if err else ""
        reading.errors = EXCEPTION.findall(reading.stderr)
    return reading
