"""``autocapx tui``, ``autocapx attach`` and ``autocapx serve``: the Textual console.

Registered with the ``autocapx`` command through the ``autocapx.commands`` entry point, so the
engine never imports the console. The console starts a sweep the way a user would, with
``autocapx run --detach``, and from then on only reads the store and writes commands.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    tui = sub.add_parser("tui", help="start a sweep and watch it in the console")
    tui.add_argument("config", type=Path)
    tui.add_argument("--sessions-dir", type=Path, default=None)
    tui.add_argument("--executor", choices=("local", "ray"), default=None, help="as for run")
    tui.add_argument("--address", default=None, help="as for run (Ray cluster host:port)")
    tui.add_argument("--cpus-per-trial", default=None, help="as for run")
    tui.set_defaults(handler=_tui)

    attach = sub.add_parser("attach", help="watch and control a running (or finished) session")
    attach.add_argument("session")
    attach.add_argument("--sessions-dir", type=Path, default=None)
    attach.set_defaults(handler=_attach)

    serve = sub.add_parser(
        "serve", help="serve the console for a session in a browser (textual-serve)"
    )
    serve.add_argument("session")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--sessions-dir", type=Path, default=None)
    serve.set_defaults(handler=_serve)


def _run_app(db: Path, owns_engine: bool) -> int:
    from autocapx_tui.app import ConsoleApp

    result = ConsoleApp(db, owns_engine=owns_engine).run()
    _say_where_things_are(db, result, owns_engine)
    return 0


def _say_where_things_are(db: Path, result: object, owns_engine: bool) -> None:
    """After the console: the sweep's result so far and the next commands, pasteable here."""
    from engine.errors import UserError
    from engine.invocation import command_prefix, session_argument
    from engine.stats.ending import ending_lines
    from engine.store.reader import SessionReader
    from engine.store.sessions import sessions_root

    prefix = command_prefix()
    where = session_argument(db.parent, sessions_root(None))
    try:
        reader = SessionReader(db)
        try:
            status = reader.session()["status"]
            running = reader.runner_state().can_take_commands
            lines = ending_lines(reader, db.parent, status, prefix, sessions_root(None))
        finally:
            reader.close()
    except UserError:
        print(f"re-attach with: {prefix} attach {where}")
        return
    if running and result != "stopped":  # every way out says how to come back
        print(f"the sweep keeps running; re-attach with: {prefix} attach {where}")
    for line in lines:
        print(line)


def _tui(args: argparse.Namespace) -> int:
    from autocapx_tui.engine_process import start_detached
    from engine.store.sessions import find_session, sessions_root

    root = sessions_root(args.sessions_dir)
    where = []  # where trials run is the engine's business: pass the flags on as given
    for flag in ("executor", "address", "cpus_per_trial"):
        if getattr(args, flag) is not None:
            where += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    session_id = start_detached("run", str(args.config), "--sessions-dir", str(root), *where)
    return _run_app(find_session(root, session_id), owns_engine=True)


def _attach(args: argparse.Namespace) -> int:
    from engine.store.sessions import find_session, sessions_root

    return _run_app(find_session(sessions_root(args.sessions_dir), args.session), owns_engine=False)


def _serve(args: argparse.Namespace) -> int:
    from engine.errors import UserError
    from engine.store.sessions import find_session, sessions_root

    db = find_session(sessions_root(args.sessions_dir), args.session)
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UserError(
            "serving in a browser needs textual-serve: pip install textual-serve"
        ) from None
    command = shlex.join(
        [
            sys.executable,
            "-m",
            "engine",
            "attach",
            db.parent.name,
            "--sessions-dir",
            str(db.parent.parent),
        ]
    )
    Server(command, host=args.host, port=args.port, title=f"autocapx {db.parent.name}").serve()
    return 0
