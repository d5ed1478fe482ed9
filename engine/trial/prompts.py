"""The prompt texts of a trial, the messages built from them, and the rules that read replies.

CaP-X's protocol and layout: one system message and one user message. The first user message is
the task prompt, ``APIs:`` and the API docs (and, with a vision model, its description of the
initial scene). After each executed block the user message is rebuilt from that first message
(no growing chat) plus the multi-turn prompt filled with ``{executed_code}``, ``{console_stdout}``
and ``{console_stderr}``, whatever the feedback mode adds, and the closing instruction to answer
with exactly one of REGENERATE (+ a fenced python block) or FINISH. Parts are joined as CaP-X
collapses them: each part followed by a newline.

The built-in texts are our own words in CaP-X's structure. :func:`load_prompt_set` reads CaP-X's
YAML prompt files (``prompt`` and ``multi_turn_prompt``, flat or under ``env.cfg`` as in CaP-X's
env configs) with CaP-X's placeholders unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from engine.errors import UserError

FEEDBACK_MODES = ("capx", "vision", "vdm", "privileged")
"""What the follow-up prompt carries besides code, stdout and stderr (see engine.trial.loop)."""
PRIVILEGED_FEEDBACK = ("privileged",)
"""Feedback modes that show the LLM the simulator's ground truth."""

SYSTEM_PROMPT = "You are a helpful assistant that generates Python code to directly solve the task."
"""CaP-X's system message, word for word: prompts written for CaP-X assume it."""

TASK_PROMPT = """\
You control a Franka Emika Panda robot arm through the Python API described below.
Goal: {goal}.
Comments are welcome for your reasoning, but write ONLY executable Python code, without code fences.
Once the code has run you will see the console's stdout and stderr (any errors and anything you print), and you may then write new code to look at the scene again and/or complete the task.
The API functions below are already available in the environment. To use numpy, import it yourself.
"""

MULTI_TURN_PROMPT = """\
These code blocks have been executed so far:
```python
{executed_code}
```
The console stdout now reads:
```
{console_stdout}
```
The console stderr now reads:
```
{console_stderr}
```
The stderr stays empty when the code compiled and ran without errors; if it shows errors, consider writing new code.
To find out whether the task is done, you can look at the scene again with the perception functions and print what you find.
Answer with EXACTLY ONE of:
- the word 'REGENERATE' followed directly by new Python code in a fenced block (```python...```), to change the code;
- the word 'FINISH', if the task looks complete.
"""

DECISION_PROMPT = """\
Think carefully about the code's output, any error messages and the observations above, then:
Answer with EXACTLY ONE of:
- the word 'REGENERATE' followed directly by new Python code in a fenced block (```python...```), to change the code;
- the word 'FINISH', if the task looks complete."""

API_HEADER = "APIs:"

INITIAL_SCENE = (
    "The initial state of the environment, as a vision model describes it:\n{description}"
)
VISUAL_DIFFERENCE = (
    "Below is what a vision model saw change between the scene before the code above ran and "
    "the scene after it:\n{description}"
)
CURRENT_IMAGE = "Below is an image of the scene now, after the code above ran."
INITIAL_IMAGE = "Below is an image of the scene before any code ran."
PRIVILEGED_STATE = (
    "PRIVILEGED simulator state (ground truth, not part of CaP-X's feedback) after the block:\n"
    "{diff}"
)

VDM_SYSTEM = (
    "You describe robot workspace images with the task's goal in mind. Report objective "
    "observations only, no guesses, and do NOT write any code."
)
VDM_INITIAL = (
    "Describe the initial state of the environment shown in the image, with the goal of the "
    "task in mind. Objective observations only; do NOT write any code."
)
VDM_DIFFERENCE = (
    "The first image shows the environment before a block of robot code ran, the second after "
    "it. Describe what changed, with the goal of the task in mind, and whether the task looks "
    "complete. Objective observations only; do NOT write any code."
)

PLACEHOLDERS = ("executed_code", "console_stdout", "console_stderr")
"""What CaP-X fills into ``multi_turn_prompt`` (``str.format``: literal braces are doubled)."""

_YAML_KEYS = ("prompt", "multi_turn_prompt", "system_prompt", "decision_prompt")
"""Keys a flat prompt file may set: CaP-X's two, and our system and closing texts."""


@dataclass(frozen=True)
class PromptSet:
    """The texts a trial's prompts are built from; recorded with every session."""

    system_prompt: str = SYSTEM_PROMPT
    prompt: str = TASK_PROMPT
    """The task prompt. ``{goal}`` (if present) is replaced by the task's goal."""
    multi_turn_prompt: str = MULTI_TURN_PROMPT
    decision_prompt: str = DECISION_PROMPT
    source: str = "built-in"
    """Where the texts came from: "built-in" or the prompt file's path."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> PromptSet:
        data = data or {}
        return cls(**{k: str(v) for k, v in data.items() if k in cls.__dataclass_fields__})


BUILT_IN = PromptSet()


def _check_multi_turn(text: str, where: str) -> None:
    try:
        text.format(**{name: "" for name in PLACEHOLDERS})
    except KeyError as exc:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise UserError(
            f"{where}: multi_turn_prompt uses the unknown placeholder {{{exc.args[0]}}} "
            f"(known: {known}; write literal braces as {{{{ and }}}})"
        ) from None
    except (ValueError, IndexError) as exc:
        raise UserError(
            f"{where}: multi_turn_prompt is not a valid template ({exc}); "
            "write literal braces as {{ and }}"
        ) from None


def prompt_set_from_mapping(data: object, where: str) -> PromptSet:
    """A prompt set from parsed YAML: a flat mapping or a CaP-X env config (``env.cfg``)."""
    if not isinstance(data, dict):
        raise UserError(
            f"{where}: a prompt file must be a mapping with 'prompt' and/or 'multi_turn_prompt'"
        )
    if "env" in data:  # a CaP-X env config: its prompts live under env.cfg
        cfg = data.get("env")
        cfg = cfg.get("cfg") if isinstance(cfg, dict) else None
        if not isinstance(cfg, dict):
            raise UserError(
                f"{where}: env.cfg not found (a CaP-X env config keeps its prompts there)"
            )
        texts = {k: cfg[k] for k in ("prompt", "multi_turn_prompt") if cfg.get(k) is not None}
    else:
        unknown = sorted(set(data) - set(_YAML_KEYS))
        if unknown:
            raise UserError(
                f"{where}: unknown key {unknown[0]!r} (a prompt file sets {', '.join(_YAML_KEYS)})"
            )
        texts = {k: v for k, v in data.items() if v is not None}
    for key, value in texts.items():
        if not isinstance(value, str) or not value.strip():
            raise UserError(f"{where}: {key} must be a non-empty string")
    if not texts:
        raise UserError(f"{where}: no prompt found (expected 'prompt' and/or 'multi_turn_prompt')")
    if "multi_turn_prompt" in texts:
        _check_multi_turn(texts["multi_turn_prompt"], where)
    return replace(BUILT_IN, source=where, **texts)


def load_prompt_set(path: str | Path) -> PromptSet:
    """Read a YAML prompt file; every problem is one line naming the file."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise UserError(f"cannot read prompt file {path}: {reason}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise UserError(f"{path}: not valid YAML ({first})") from None
    return prompt_set_from_mapping(data, str(path))


def task_prompt(prompts: PromptSet, goal: str) -> str:
    return prompts.prompt.replace("{goal}", goal)


def initial_prompt(goal: str, api_docs: str, prompts: PromptSet = BUILT_IN, scene: str = "") -> str:
    """CaP-X's first user message: task prompt, ``APIs:``, the docs (+ the initial scene)."""
    text = f"{task_prompt(prompts, goal)}\n{API_HEADER}\n\n{api_docs.strip()}"
    if scene:
        text += "\n\n" + INITIAL_SCENE.format(description=scene)
    return text


def follow_up_prompt(
    initial: str,
    code_so_far: list[str],
    stdout: str,
    stderr: str,
    extras: tuple[str, ...] = (),
    prompts: PromptSet = BUILT_IN,
) -> str:
    """The rebuilt user message after a block ran. ``extras`` are the feedback mode's parts
    (an image caption, a vision model's description, privileged state), in CaP-X's order."""
    multi_turn = prompts.multi_turn_prompt.format(
        executed_code="\n".join(code_so_far), console_stdout=stdout, console_stderr=stderr
    )
    parts = (initial, multi_turn, *extras, prompts.decision_prompt)
    return "".join(part + "\n" for part in parts)


def messages(user: str, prompts: PromptSet = BUILT_IN) -> list[dict]:
    return [{"role": "system", "content": prompts.system_prompt}, {"role": "user", "content": user}]


FENCE = "```python\n"


def extract_code(reply: str) -> str:
    """CaP-X's rule: the text after the first ```` ```python ```` fence up to the last ```` ``` ````;
    without an opening fence, from the start; stripped."""
    start = reply.find(FENCE)
    if start >= 0:
        reply = reply[start + len(FENCE) :]
    end = reply.rfind("```")
    if end >= 0:
        reply = reply[:end]
    return reply.strip()


def parse_decision(reply: str) -> str:
    """``"regenerate"`` if the reply contains REGENERATE, otherwise ``"finish"`` (CaP-X's rule)."""
    return "regenerate" if "REGENERATE" in reply else "finish"


def regenerated_code(reply: str) -> str:
    """The new code of a REGENERATE reply: CaP-X takes the text between the first REGENERATE
    and the next one (if any), then extracts the code from it."""
    return extract_code(reply.split("REGENERATE")[1])
