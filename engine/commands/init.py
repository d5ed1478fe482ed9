"""``autocapx init [DIR]``: write the demo sweep config and a real-model template where the
user is, so a ``pip install`` user has configs to start from (``examples/`` is not installed)."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

TEMPLATES = {
    "cube_lift.py": "the reference program: autocapx sim run cube_lift.py --seed 3",
    "demo.toml": "the offline demo: the synthetic coder, no API key needed",
    "paper_sweep.toml": "a study-style sweep against real models (set OPENAI_API_KEY first)",
}


def register(sub: argparse._SubParsersAction) -> None:
    init = sub.add_parser("init", help="write the demo config and a real-model template here")
    init.add_argument("directory", nargs="?", type=Path, default=Path("."))
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.set_defaults(handler=_init)


def template_text(name: str) -> str:
    return resources.files("engine.templates").joinpath(name).read_text(encoding="utf-8")


def _init(args: argparse.Namespace) -> int:
    from engine.errors import UserError
    from engine.invocation import command_prefix

    directory: Path = args.directory
    targets = {name: directory / name for name in TEMPLATES}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not args.force:
        verb = "exists" if len(existing) == 1 else "exist"
        raise UserError(f"{', '.join(existing)} already {verb}: keep them, or init --force")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, path in targets.items():
            path.write_text(template_text(name), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write the configs into {directory}: {exc.strerror}") from None
    for name, what in TEMPLATES.items():
        print(f"wrote {targets[name]}: {what}")
    demo = targets["demo.toml"]
    shown = demo.name if directory == Path(".") else str(demo)
    print(f"next: {command_prefix()} run {shown}")
    return 0
