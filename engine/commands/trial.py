"""``autocapx trial``: run one multi-turn trial and print its blocks, decisions and outcome."""

from __future__ import annotations

import argparse
import json
import sys


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
    p.add_argument("--feedback", choices=("text", "vision"), default="text")
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

    from engine.errors import UserError
    from engine.llm.factory import make_backend
    from engine.sim.tasks import get_task
    from engine.skills.library import builtin_library
    from engine.trial.loop import TrialSpec, run_trial

    get_task(args.task)
    if args.max_regenerations < 0:
        raise UserError("--max-regenerations must be >= 0")
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
        task=args.task,
        seed=args.seed,
        condition=args.library,
        library=builtin_library(args.library),
        max_regenerations=args.max_regenerations,
        block_timeout_s=args.block_timeout,
        quality=args.quality,
        feedback=args.feedback,
    )
    label = f"{backend.model} (SYNTHETIC offline coder)" if backend.synthetic else backend.model
    if not args.json:
        print(f"trial {spec.trial_id} · backend {label} · library {args.library}", flush=True)
    record = asyncio.run(run_trial(spec, backend, sink=_printer(args.json)))
    if args.json:
        json.dump(record.to_dict(), sys.stdout)
        print()
    else:
        verdict = "SUCCESS" if record.final_success else "FAILED"
        print(
            f"{verdict} on the final attempt · blocks {record.n_blocks} · regenerations "
            f"{record.regenerations} · ended by {record.end_reason} · any-attempt success "
            f"{'yes' if record.any_success else 'no'} · tokens "
            f"{record.prompt_tokens + record.completion_tokens} · {record.wall_time_s:.1f} s"
        )
        if record.error:
            print(f"error: {record.error}")
    return 0 if record.final_success else 1
