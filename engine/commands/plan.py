"""``autocapx plan SWEEP.toml [--json] [--session ID]``: the dry run before a sweep (or the
rest of a running one): trials, LLM calls, tokens, cost, wall time and power."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.errors import UserError
from engine.text import plural


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="dry run: trials, LLM calls, tokens, cost, wall time and power, before running",
    )
    p.add_argument("config", type=Path, nargs="?", default=None, help="sweep config (TOML)")
    p.add_argument(
        "--session",
        default=None,
        help="calibrate from this session's finished trials and plan the trials it has left "
        "(without CONFIG: the session's own config)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--sessions-dir", type=Path, default=None)
    p.set_defaults(handler=_plan)


def first_prompt_tokens(config) -> float:  # noqa: ANN001 - a SweepConfig
    """Mean size over the conditions of the first prompt a trial sends (4 characters a token)."""
    from engine.api.docs import robot_api_docs
    from engine.config import LIBRARY_ALIASES
    from engine.sim.tasks import get_task
    from engine.trial.prompts import initial_prompt, messages

    goal = get_task(config.session.task).goal
    sizes = []
    for c in config.conditions:
        library = "curated9" if LIBRARY_ALIASES.get(c.library) == "curated9" else "none"
        text = initial_prompt(goal, robot_api_docs(library), config.prompt_set)
        chars = sum(len(str(m.get("content", ""))) for m in messages(text, config.prompt_set))
        sizes.append(chars / 4)
    return sum(sizes) / len(sizes)


def _plan(args: argparse.Namespace) -> int:
    from engine.config import load_config
    from engine.stats.dryrun import dry_run, session_calibration

    if args.config is None and args.session is None:
        raise UserError("plan needs a sweep config, or --session ID for the rest of a session")
    remaining = calibration = None
    config = load_config(args.config) if args.config is not None else None
    if args.session is not None:
        from engine.store.reader import SessionReader
        from engine.store.sessions import find_session, sessions_root
        from engine.sweep.session import stored_config

        db = find_session(sessions_root(args.sessions_dir), args.session)
        if config is None:
            config = stored_config(db.parent)[0]
        reader = SessionReader(db)
        try:
            calibration, done = session_calibration(reader)
        finally:
            reader.close()
        per_backbone = config.session.trials_per_condition * len(config.conditions)
        remaining = {b.name: max(0, per_backbone - done.get(b.name, 0)) for b in config.backbones}
    assert config is not None
    plan = dry_run(config, first_prompt_tokens(config), remaining, calibration)
    if args.json:
        print(json.dumps(plan.to_dict()))
        return 0
    left = " left" if remaining is not None else ""
    lines = [
        f"{plural(plan.trials, 'trial')}{left} ({len(config.conditions)} conditions x "
        f"{len(config.backbones)} backbones x {plan.per_arm})",
        f"LLM calls ~{plan.llm_calls:,}; tokens ~{plan.tokens:,} ({plan.prompt_tokens:,} prompt, "
        f"{plan.completion_tokens:,} completion); cost ~${plan.cost_usd:,.2f}",
        f"wall time ~{plan.wall_s / 60:,.1f} min",
    ]
    if plan.power is not None:
        t = plan.target
        lines.append(
            f"power {plan.power:.0%} to detect {100 * t['difference']:g} points from "
            f"{100 * t['baseline_rate']:g}% with {plan.per_arm} trials per arm "
            f"(two-sided, alpha {t['alpha']:g})"
        )
    source = (
        f"calibrated from {plural(plan.calibrated_from, 'finished trial')}"
        if plan.calibrated_from
        else "estimates from priors:"
    )
    lines.append(source)
    lines += [f"  {a}" for a in plan.assumptions]
    print("\n".join(lines))
    return 0
