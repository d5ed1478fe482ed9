"""``autocapx api-docs``: print the API text (or the whole prompt set) exactly as the LLM sees it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    docs = sub.add_parser(
        "api-docs",
        help="print the robot API text used in prompts (--full: the whole prompt set)",
        description="Print the API section of the prompt in CaP-X's combined_doc layout. With "
        "--full or --prompts, print the whole prompt set: the system message, the first user "
        "message and the multi-turn template a trial uses.",
    )
    docs.add_argument(
        "--library", default=None, help="append a helper library's functions (e.g. curated9)"
    )
    docs.add_argument(
        "--prompts",
        type=Path,
        metavar="FILE",
        help="a YAML prompt file (CaP-X's keys prompt, multi_turn_prompt); implies --full",
    )
    docs.add_argument("--task", default="cube_lift", help="task whose goal fills the prompt")
    docs.add_argument("--full", action="store_true", help="print the whole prompt set")
    docs.add_argument("--json", action="store_true", help="the prompt set as one JSON object")
    docs.set_defaults(handler=_api_docs)


def prompt_set_view(prompts, task: str, library: str | None) -> dict:
    """The texts a trial of ``task`` starts from, as shown by ``api-docs`` and ``trial --json``."""
    from engine.api.docs import robot_api_docs
    from engine.sim.tasks import get_task
    from engine.trial.prompts import initial_prompt

    goal = get_task(task).goal
    return {
        "source": prompts.source,
        "system_prompt": prompts.system_prompt,
        "initial_prompt": initial_prompt(goal, robot_api_docs(library), prompts),
        "multi_turn_prompt": prompts.multi_turn_prompt,
        "decision_prompt": prompts.decision_prompt,
    }


def _api_docs(args: argparse.Namespace) -> int:
    from engine.api.docs import robot_api_docs
    from engine.trial.prompts import BUILT_IN, load_prompt_set

    if not (args.full or args.prompts or args.json):
        print(robot_api_docs(args.library))
        return 0
    prompts = load_prompt_set(args.prompts) if args.prompts else BUILT_IN
    view = prompt_set_view(prompts, args.task, args.library)
    if args.json:
        print(json.dumps(view))
        return 0
    for key, text in view.items():
        if key == "source":
            print(f"# prompt set: {text}")
            continue
        print(f"\n# {key}\n{text}")
    return 0
