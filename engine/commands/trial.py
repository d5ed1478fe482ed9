"""``autocapx trial``: run one multi-turn trial and print its blocks, decisions and outcome."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.text import plural
from engine.trial.prompts import FEEDBACK_MODES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trial",
        help="run one multi-turn trial (LLM writes code, sandbox runs it, feedback, repeat)",
        description="Run one trial. Without an API key use --backend synthetic (offline coder). "
        "For --backend openai the key comes from $OPENAI_API_KEY and the endpoint from "
        "--base-url or $OPENAI_BASE_URL. Exit status 0 if the final attempt succeeded, 1 if not.",
    )
    p.add_argument("--task", default="cube_lift")
    p.add_argument("--backend", default="synthetic", choices=("synthetic", "openai"))
    p.add_argument("--seed", type=int, default=0, help="scene seed (and synthetic coder seed)")
    p.add_argument("--profile", default="strong", help="synthetic coder profile: strong or weak")
    p.add_argument("--model", default="gpt-4o-mini", help="model name for --backend openai")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint URL")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument(
        "--library", default="none", help="helper library in the prompt: none or curated9"
    )
    p.add_argument("--max-regenerations", type=int, default=10)
    p.add_argument("--block-timeout", type=float, default=180.0, help="seconds per block")
    p.add_argument("--quality", choices=("full", "fast"), default="full")
    p.add_argument(
        "--feedback",
        choices=FEEDBACK_MODES,
        default="capx",
        help="what the LLM sees after a block: capx (code, stdout, stderr: CaP-X's, the "
        "default), vision (+ camera images), vdm (+ a vision model's description), privileged "
        "(+ the simulator's scene diff: ground truth, labelled PRIVILEGED)",
    )
    p.add_argument(
        "--vdm-backend",
        choices=("openai", "synthetic"),
        default=None,
        help="the vision model for --feedback vdm (openai uses --vdm-model at --base-url)",
    )
    p.add_argument("--vdm-model", default=None, help="vision model name for --vdm-backend openai")
    p.add_argument(
        "--privileged-observations",
        action="store_true",
        help="add the simulator's object poses to observations (PRIVILEGED ground truth)",
    )
    p.add_argument(
        "--prompts",
        type=Path,
        metavar="FILE",
        help="a YAML prompt file with CaP-X's keys (prompt, multi_turn_prompt)",
    )
    p.add_argument("--json", action="store_true", help="print the whole trial record as JSON")
    p.set_defaults(handler=_trial)


def _printer(quiet: bool):
    from engine.trial import events as ev

    def sink(event: ev.TrialEvent) -> None:
        if quiet:
            return
        d = event.data
        if event.kind == ev.DECISION:
            print(f"── block {d['block']}: {d['decision'].upper()}", flush=True)
        elif event.kind == ev.STDOUT:
            print(f"   │ {d['line']}", flush=True)
        elif event.kind == ev.EXEC_RESULT:
            what = d.get("violation") or d.get("killed") or d.get("exception") or "ran clean"
            verdict = "success" if d["success"] else "not yet"
            print(f"   └ {what}; task {verdict} (reward {d['reward']:.2f})", flush=True)
        elif event.kind == ev.LLM_RETRY:
            print(f"   ! LLM retry: {d.get('reason')} {d.get('status') or ''}", flush=True)

    return sink


def _trial(args: argparse.Namespace) -> int:
    import asyncio

    from engine.commands.api_docs import prompt_set_view
    from engine.commands.sim import check_seed
    from engine.errors import UserError
    from engine.llm.factory import make_backend, make_vision_backend
    from engine.sim.tasks import get_task
    from engine.skills.library import builtin_library
    from engine.trial.loop import TrialSpec, run_trial
    from engine.trial.prompts import BUILT_IN, load_prompt_set
    from engine.world import WorldSpec

    get_task(args.task)
    check_seed(args.seed)
    if args.max_regenerations < 0:
        raise UserError("--max-regenerations must be >= 0")
    vdm = None
    if args.feedback == "vdm":
        if args.vdm_backend is None:
            raise UserError("--feedback vdm needs a vision model: --vdm-backend openai|synthetic")
        if args.vdm_backend == "openai" and not args.vdm_model:
            raise UserError("--vdm-backend openai needs --vdm-model")
        vdm = make_vision_backend(args.vdm_backend, model=args.vdm_model, base_url=args.base_url)
    elif args.vdm_backend or args.vdm_model:
        raise UserError("--vdm-backend/--vdm-model are used only with --feedback vdm")
    prompts = load_prompt_set(args.prompts) if args.prompts else BUILT_IN
    if args.backend == "synthetic":
        backend = make_backend("synthetic", seed=args.seed, profile=args.profile)
    else:
        backend = make_backend(
            "openai",
            model=args.model,
            base_url=args.base_url,
            temperature=args.temperature,
            vision=args.feedback == "vision",
        )
    spec = TrialSpec(
        trial_id=f"{args.task}-seed{args.seed}",
        world=WorldSpec(
            task=args.task,
            seed=args.seed,
            quality=args.quality,
            privileged_observations=args.privileged_observations,
        ),
        condition=args.library,
        library=builtin_library(args.library),
        max_regenerations=args.max_regenerations,
        block_timeout_s=args.block_timeout,
        feedback=args.feedback,
        prompts=prompts,
    )
    label = f"{backend.model} (SYNTHETIC offline coder)" if backend.synthetic else backend.model
    if not args.json:
        extra = f" · feedback {args.feedback}"
        if spec.privileged:
            extra += " · PRIVILEGED: the LLM sees simulator ground truth"
        print(
            f"trial {spec.trial_id} · backend {label} · library {args.library}{extra}", flush=True
        )
    from engine.trial.block_runner import BlockRunner

    runner = BlockRunner(spec)
    # One trial, one worker: a fork server would only add its own start.
    runner.worker.use_fork_server = False
    record = asyncio.run(run_trial(spec, backend, sink=_printer(args.json), vdm=vdm, runner=runner))
    if args.json:
        out = record.to_dict()
        out["feedback"], out["privileged"] = spec.feedback, spec.privileged
        library = None if args.library in ("none", "P21_a", "") else args.library
        out["prompts"] = prompt_set_view(prompts, args.task, library)
        json.dump(out, sys.stdout)
        print()
    else:
        verdict = "SUCCESS" if record.final_success else "FAILED"
        tokens = record.prompt_tokens + record.completion_tokens
        print(
            f"{verdict} on the final attempt · {plural(record.n_blocks, 'block')} · "
            f"{plural(record.regenerations, 'regeneration')} · ended by {record.end_reason} · "
            f"any-attempt success {'yes' if record.any_success else 'no'} · "
            f"{plural(tokens, 'token')} · {record.wall_time_s:.1f} s"
        )
        if record.served_model and record.served_model != backend.model:
            print(f"served by: {record.served_model} (asked for {backend.model})")
        if record.error:
            print(f"error: {record.error}")
    return 0 if record.final_success else 1
