"""``autocapx api-docs``: print the API text exactly as the LLM sees it in the prompt."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    docs = sub.add_parser("api-docs", help="print the robot API text used in prompts")
    docs.add_argument(
        "--library", default=None, help="append a helper library's functions (e.g. curated9)"
    )
    docs.set_defaults(handler=_api_docs)


def _api_docs(args: argparse.Namespace) -> int:
    from engine.api.docs import robot_api_docs

    print(robot_api_docs(args.library))
    return 0
