"""``autocapx evolve`` and ``autocapx skills list|show|approve|veto``."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from engine.commands.session import executor_args, executor_choice
from engine.text import plural


def register(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evolve", help="rounds of run -> mine -> gate -> build library")
    ev.add_argument("config", type=Path)
    ev.add_argument("--rounds", type=int, default=2)
    ev.add_argument("--quiet", action="store_true")
    ev.add_argument("--sessions-dir", type=Path, default=None)
    executor_args(ev)
    ev.set_defaults(handler=_evolve)

    sk = sub.add_parser("skills", help="list, show, approve or veto a session's skills")
    sk_sub = sk.add_subparsers(dest="skills_command", metavar="SUBCOMMAND", required=True)
    ls = sk_sub.add_parser("list", help="candidates with status, quality and gate reasons")
    ls.add_argument("session")
    ls.add_argument("--status", choices=("promoted", "rejected", "all"), default="all")
    ls.add_argument("--json", action="store_true")
    show = sk_sub.add_parser("show", help="one skill: source, gates, provenance, decisions")
    show.add_argument("session")
    show.add_argument("skill", help="skill id or name")
    show.add_argument("--json", action="store_true", help="the evidence as one JSON object")
    use = sk_sub.add_parser(
        "usage", help="calls per skill, top share, dead skills, rewrites on retry"
    )
    use.add_argument("session")
    use.add_argument("--json", action="store_true")
    for action in ("approve", "veto"):
        p = sk_sub.add_parser(
            action, help=f"{action} a skill (force it {'in' if action == 'approve' else 'out'})"
        )
        p.add_argument("session")
        p.add_argument("skill", help="skill id or name")
        p.add_argument("--reason", required=True, help="why (kept in the audit log)")
        p.add_argument("--who", default=None, help="who decides (default: $USER)")
        p.set_defaults(action=action)
    for p in (ls, show, use, *[sk_sub.choices[a] for a in ("approve", "veto")]):
        p.add_argument("--sessions-dir", type=Path, default=None)
    sk.set_defaults(handler=_skills)


def _evolve(args: argparse.Namespace) -> int:
    from engine.config import load_config
    from engine.errors import UserError
    from engine.store.sessions import sessions_root
    from engine.sweep.evolve import run_rounds
    from engine.sweep.session import create_session

    if args.rounds < 1:
        raise UserError("--rounds must be at least 1")
    config = load_config(args.config)
    executor = executor_choice(args)
    executor.preflight()
    directory = create_session(
        config,
        sessions_root(args.sessions_dir),
        args.config,
        rounds=args.rounds,
        executor=executor,
    )
    if not args.quiet:
        print(
            f"session {directory.name}: up to {plural(args.rounds, 'round')} of "
            f"{plural(config.total_trials, 'trial')}",
            flush=True,
        )
    reports = run_rounds(config, directory, args.rounds, quiet=args.quiet)
    if reports and reports[-1].saturated and not args.quiet:
        print(f"saturated after round {reports[-1].round}: stopping early")
    return 0 if reports and reports[-1].status == "finished" else 3


def _skills(args: argparse.Namespace) -> int:
    from engine.store.reader import SessionReader
    from engine.store.sessions import find_session, sessions_root

    path = find_session(sessions_root(args.sessions_dir), args.session)
    if args.skills_command in ("approve", "veto"):
        return _decide(args, path)
    reader = SessionReader(path)
    try:
        if args.skills_command == "list":
            return _list(reader, args)
        if args.skills_command == "usage":
            return _usage(reader, args)
        return _show(reader, args.skill, args.json)
    finally:
        reader.close()


LIST_KEYS = ("id", "name", "status", "override", "occurrences", "success_rate", "quality")


def _list(reader, args) -> int:
    from engine.skills.conditions import is_generated

    rows = [
        {k: r[k] for k in LIST_KEYS}
        for r in reader.skills()
        if args.status == "all" or r["status"] == args.status
    ]
    reasons: dict[str, list[str]] = {}
    for g in reader.gate_results():
        if not g["passed"]:
            reasons.setdefault(g["skill_id"], []).append(f"{g['gate']}: {g['reason']}")
    if args.json:
        for r in rows:
            r["failed_gates"] = reasons.get(r["id"], [])
            r["generated"] = is_generated(r["id"])
            print(json.dumps(r))
        return 0
    if not rows:
        print("no skills mined yet")
        return 0
    print(
        f"{'ID':12} {'NAME':28} {'STATUS':9} {'OVERRIDE':9} {'TRIALS':>6} {'SUCC':>5} {'QUAL':>5}  FIRST FAILED GATE"
    )
    for r in rows:
        first = reasons.get(r["id"], [""])[0]
        if is_generated(r["id"]):
            first = "GENERATED from a call sequence" + (f" · {first}" if first else "")
        print(
            f"{r['id']:12} {r['name'][:28]:28} {r['status']:9} {r['override'] or '-':9} "
            f"{r['occurrences']:>6} {r['success_rate']:>5.2f} {r['quality']:>5.2f}  {first}"
        )
    return 0


def _usage(reader, args) -> int:
    from engine.skills.usage import merged, usage_by_arm

    arms = usage_by_arm(reader)
    everything = merged(arms.values())
    if args.json:
        out = {**everything.summary(), "skills": everything.rows(), "arms": []}
        for (condition, backbone, round_), report in sorted(arms.items()):
            out["arms"].append(
                {
                    "condition": condition,
                    "backbone": backbone,
                    "round": round_,
                    **report.summary(),
                    "skills": report.rows(),
                }
            )
        print(json.dumps(out))
        return 0
    print("calls counted at run time in the sandbox, per arm (condition · backbone · round)")
    for (condition, backbone, round_), report in sorted(arms.items()):
        if not report.skills:
            continue
        print(
            f"\n{condition} · {backbone} · round {round_}: {plural(report.total_calls, 'call')} in "
            f"{plural(report.trials, 'trial')} · top skill {report.top_share(1):.0%} · top 3 "
            f"{report.top_share(3):.0%} · top 4 {report.top_share(4):.0%} · dead: "
            f"{', '.join(report.dead) or 'none'}"
        )
        print(
            f"  {'SKILL':32} {'CALLS':>6} {'SHARE':>6} {'RAISED':>6} {'TRIALS':>6} "
            f"{'SUCCESS':>8} {'REWRITTEN':>9}"
        )
        for r in report.rows():
            rate = "-" if r["success_when_called"] is None else f"{r['success_when_called']:.0%}"
            print(
                f"  {r['skill'][:32]:32} {r['calls']:>6} {r['share']:>6.0%} {r['raised']:>6} "
                f"{r['trials']:>6} {rate:>8} {r['rewritten_on_retry']:>9}"
                f"{'  dead' if r['dead'] else ''}"
            )
    if not any(report.skills for report in arms.values()):
        print("no trial of this session ran with a skill library")
    return 0


def _show(reader, ref: str, as_json: bool = False) -> int:
    from engine.errors import UserError

    rows = reader.skills_named(ref)
    exact = [r for r in rows if r["id"] == ref]
    if not rows:
        raise UserError(f"no skill {ref!r} in this session")
    if not exact and len(rows) > 1:
        listing = ", ".join(f"{r['id']} (quality {r['quality']:.2f})" for r in rows)
        raise UserError(f"{len(rows)} skills are named {ref!r}: {listing}; give the id")
    s = (exact or rows)[0]
    from engine.skills.evidence import evidence_lines, skill_evidence

    evidence = skill_evidence(reader, s["id"])
    if as_json:
        import dataclasses

        out = dataclasses.asdict(evidence)
        out["source"] = s["source"]
        out["gates"] = [
            {"gate": g["gate"], "passed": bool(g["passed"]), "reason": g["reason"]}
            for g in reader.gate_results(s["id"])
        ]
        print(json.dumps(out))
        return 0
    lines = evidence_lines(evidence, width=160)
    print(lines[0])
    print(
        f"appeared in {plural(s['occurrences'], 'trial')} · success {s['success_rate']:.0%} · quality {s['quality']:.2f}"
    )
    print("gates:")
    for g in reader.gate_results(s["id"]):
        print(f"  {'PASS' if g['passed'] else 'FAIL'} {g['gate']:12} {g['reason']}")
    for d in reader.decisions(s["id"]):
        print(f"decision: {d['action']} by {d['who']} at {time.ctime(d['at'])}: {d['reason']}")
    print("evidence (calls counted at run time; pairs share scene seed, backbone and round):")
    for line in lines[1:]:
        print("  " + line)
    print("source:")
    print(s["source"])
    return 0


def _decide(args, path: Path) -> int:
    """Through the runner if one holds the session; otherwise applied here under its lock."""
    from engine.store.reader import SessionReader
    from engine.sweep.session import lock_is_free, runner_lock, stored_config

    who = args.who or os.environ.get("USER") or "cli"
    command = {
        "action": args.action,
        "args": {"skill": args.skill, "reason": args.reason},
        "who": who,
    }
    directory = path.parent
    if lock_is_free(directory):
        from engine.skills.manager import open_manager

        config, _ = stored_config(directory)
        with runner_lock(directory):
            manager = open_manager(config, directory)
            try:
                manager.refresh()
                result = manager.handle(command)
            finally:
                manager.store.close()
        print(result)
        return 0 if not result.startswith("rejected") else 2
    reader = SessionReader(path)
    try:
        command_id = reader.send_command(args.action, command["args"], who=who)
        for _ in range(100):
            row = reader.command(command_id)
            if row and row["consumed_at"]:
                print(row["result"])
                return 0 if not str(row["result"]).startswith("rejected") else 2
            time.sleep(0.1)
    finally:
        reader.close()
    print(f"queued as command {command_id}; the runner will apply it shortly")
    return 0
