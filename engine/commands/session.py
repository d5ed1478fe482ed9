"""Session commands: ``run``, ``resume``, ``sessions``, ``migrate``, ``export``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from engine.cpu_priority import yield_cpu_to_interactive_work
from engine.text import plural


def _sessions_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sessions-dir",
        type=Path,
        default=None,
        help="where sessions live (default: $AUTOCAPX_SESSIONS or ./sessions)",
    )


def executor_args(p: argparse.ArgumentParser, *, resume: bool = False) -> None:
    g = p.add_argument_group("where trials run")
    g.add_argument(
        "--executor",
        choices=("local", "ray"),
        default=None,
        help="local processes (default) or a Ray cluster"
        + (" (default: what the session ran with)" if resume else ""),
    )
    g.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join, host:port (default: $RAY_ADDRESS, else start Ray here)",
    )
    g.add_argument(
        "--cpus-per-trial",
        type=float,
        default=None,
        help="Ray: CPUs reserved per trial slot (default 1; e.g. 0.25 when LLM-bound)",
    )


def executor_choice(args: argparse.Namespace, stored: object = None) -> object:
    """The ExecutorChoice the flags ask for, starting from ``stored`` (resume) or local."""
    from engine.errors import UserError
    from engine.executors import ExecutorChoice

    base = stored if isinstance(stored, ExecutorChoice) else ExecutorChoice()
    kind = args.executor or base.kind
    if kind != "ray" and (args.address is not None or args.cpus_per_trial is not None):
        raise UserError("--address and --cpus-per-trial only apply with --executor ray")
    if args.cpus_per_trial is not None and not 0 < args.cpus_per_trial <= 64:
        raise UserError("--cpus-per-trial must be above 0 and at most 64")
    if kind != base.kind:
        base = ExecutorChoice(kind=kind)
    return ExecutorChoice(
        kind=kind,
        address=base.address if args.address is None else args.address,
        cpus_per_trial=base.cpus_per_trial if args.cpus_per_trial is None else args.cpus_per_trial,
    )


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="start a sweep from a TOML config (headless)")
    run.add_argument("config", type=Path, help="sweep config (TOML)")
    run.add_argument(
        "--detach", action="store_true", help="run in the background; print the session id"
    )
    run.add_argument("--quiet", action="store_true", help="no progress output")
    executor_args(run)
    _sessions_dir(run)
    run.set_defaults(handler=_run)

    resume = sub.add_parser("resume", help="resume an interrupted session")
    resume.add_argument("session", help="session id (a unique prefix is enough)")
    resume.add_argument("--force", action="store_true", help="accept a changed config")
    resume.add_argument(
        "--accept-loss",
        action="store_true",
        help="resume a session whose database lost commits (its -wal file); lost trials run again",
    )
    resume.add_argument(
        "--config", type=Path, default=None, help="compare against this config file"
    )
    resume.add_argument("--detach", action="store_true", help="resume in the background")
    resume.add_argument("--quiet", action="store_true", help="no progress output")
    executor_args(resume, resume=True)
    _sessions_dir(resume)
    resume.set_defaults(handler=_resume)

    ls = sub.add_parser("sessions", help="list sessions with status and progress")
    ls.add_argument("--json", action="store_true")
    _sessions_dir(ls)
    ls.set_defaults(handler=_sessions)

    mig = sub.add_parser(
        "migrate", help="bring a session made by an older autocapx to this schema (adds only)"
    )
    mig.add_argument("session", help="session id (a unique prefix is enough)")
    _sessions_dir(mig)
    mig.set_defaults(handler=_migrate)

    ex = sub.add_parser("export", help="export a session's trials, blocks, skills or decisions")
    ex.add_argument("session")
    ex.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    ex.add_argument(
        "--what",
        choices=("trials", "blocks", "calls", "skills", "decisions", "gates"),
        default="trials",
    )
    ex.add_argument(
        "--output", "-o", type=Path, default=None, help="file to write (default: stdout)"
    )
    _sessions_dir(ex)
    ex.set_defaults(handler=_export)


def _detach(directory: Path, root: Path) -> None:
    """Start ``autocapx resume`` for the session in its own process group, logging beside it."""
    log = (directory / "runner.log").open("ab")
    subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "resume",
            directory.name,
            "--sessions-dir",
            str(root),
            "--quiet",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        cwd=os.getcwd(),
    )


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from engine.config import load_config
    from engine.store.sessions import sessions_root
    from engine.sweep.session import create_session, execute_session

    config = load_config(args.config)
    executor = executor_choice(args)
    executor.preflight()
    root = sessions_root(args.sessions_dir)
    directory = create_session(config, root, args.config, executor=executor)
    label = " (SYNTHETIC offline coder)" if config.synthetic_only else ""
    if config.privileged:
        label += " (PRIVILEGED: the LLM sees simulator ground truth)"
    if executor.kind != "local":
        label += f" on {executor.kind}"
    if args.detach:
        _detach(directory, root)
        print(directory.name)
        return 0
    if not args.quiet:
        print(
            f"session {directory.name}{label}: {plural(config.total_trials, 'trial')}", flush=True
        )
    yield_cpu_to_interactive_work()
    status = asyncio.run(execute_session(directory, config, quiet=args.quiet, executor=executor))
    return _exit_code(status)


def _exit_code(status: str) -> int:
    """0 finished; 3 stopped or incomplete (resume continues it)."""
    return 0 if status == "finished" else 3


def _resume(args: argparse.Namespace) -> int:
    import asyncio

    from engine.store.sessions import find_session, sessions_root
    from engine.sweep.session import config_for_resume, execute_session

    root = sessions_root(args.sessions_dir)
    directory = find_session(root, args.session).parent
    if args.accept_loss:
        from engine.sweep.session import accept_history_loss

        lost = accept_history_loss(directory)
        if lost is not None and not args.quiet:
            print(
                f"accepted the loss of {plural(lost[0], 'done trial')} "
                f"({plural(lost[1], 'event')}): they run again"
            )
    config = config_for_resume(directory, args.force, args.config)
    from engine.sweep.session import remember_executor, stored_config

    info = stored_config(directory)[1]
    rounds = info["rounds"]
    executor = executor_choice(args, info["executor"])
    if executor != info["executor"]:
        remember_executor(directory, executor)
    if rounds > 1 and not args.detach:
        from engine.sweep.evolve import run_rounds

        yield_cpu_to_interactive_work()
        reports = run_rounds(config, directory, rounds, quiet=args.quiet)
        return 0 if reports and reports[-1].status == "finished" else 3
    if args.detach:
        _detach(directory, root)
        print(directory.name)
        return 0
    if not args.quiet:
        print(f"resuming session {directory.name}", flush=True)
    yield_cpu_to_interactive_work()
    status = asyncio.run(execute_session(directory, config, quiet=args.quiet, executor=executor))
    return _exit_code(status)


def _migrate(args: argparse.Namespace) -> int:
    from engine.store.sessions import find_session, sessions_root
    from engine.sweep.session import migrate_session

    directory = find_session(sessions_root(args.sessions_dir), args.session).parent
    before, after = migrate_session(directory)
    if before == after:
        print(f"session {directory.name} is at schema version {after}: nothing to do")
    else:
        print(f"session {directory.name}: schema version {before} -> {after}")
    return 0


def _sessions(args: argparse.Namespace) -> int:
    """List every session; one that cannot be read gets a row saying why (and is never
    written to). Exit status 0, or 1 when some session could not be read: the list is
    complete either way, and a script sees that something needs looking at."""
    from engine.errors import UserError
    from engine.store.reader import SessionReader
    from engine.store.sessions import list_session_dbs, not_a_session, sessions_root
    from engine.sweep.session import lock_is_free

    rows = []
    for path in list_session_dbs(sessions_root(args.sessions_dir)):
        try:
            problem = not_a_session(path)
            if problem:
                raise UserError(problem)
            reader = SessionReader(path)
            try:
                info, progress = reader.session(), reader.progress()
            finally:
                reader.close()
        except UserError as exc:
            rows.append({"id": path.parent.name, "status": "unreadable", "error": str(exc)})
            continue
        status = info["status"]
        if status in ("running", "paused") and lock_is_free(path.parent):
            status = "interrupted"
        rows.append(
            {
                "id": info["id"],
                "status": status,
                "task": info["task"],
                "done": progress["done"],
                "total": info["total_trials"],
                "successes": progress["successes"],
                "synthetic": bool(info["synthetic"]),
                "code_version": info["code_version"],
                "executor": (info["config"].get("_executor") or {}).get("kind", "local"),
                "privileged": info["privileged"],
            }
        )
    bad = [r["id"] for r in rows if r["status"] == "unreadable"]
    if args.json:
        for row in rows:
            print(json.dumps(row))
    elif not rows:
        print("no sessions")
    else:
        print(f"{'SESSION':40} {'STATUS':12} {'TASK':11} {'DONE':>9} {'OK':>5}  BACKEND")
        for r in rows:
            if r["status"] == "unreadable":
                print(f"{r['id']:40} unreadable   {r['error']}")
                continue
            kind = ("synthetic" if r["synthetic"] else "llm") + (
                f" on {r['executor']}" if r["executor"] != "local" else ""
            )
            if r["privileged"]:
                kind += " PRIVILEGED"
            print(
                f"{r['id']:40} {r['status']:12} {r['task']:11} {r['done']:>4}/{r['total']:<4} "
                f"{r['successes']:>5}  {kind}"
            )
    if bad:
        sys.stdout.flush()
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        print(
            f"autocapx: error: {len(bad)} of {plural(len(rows), 'session')} cannot be read ({shown}): "
            "see their rows",
            file=sys.stderr,
        )
        return 1
    return 0


def _export(args: argparse.Namespace) -> int:
    from engine.store.export import export_to
    from engine.store.reader import SessionReader
    from engine.store.sessions import find_session, sessions_root

    reader = SessionReader(find_session(sessions_root(args.sessions_dir), args.session), check=True)
    try:
        rows = export_to(reader, args.what, args.format, args.output, sys.stdout)
    finally:
        reader.close()
    if args.output is not None:
        print(f"wrote {rows} {args.what} rows to {args.output}", file=sys.stderr)
    return 0
