"""The ``autocapx`` command.

Each command group lives in :mod:`engine.commands` with a ``register(subparsers)`` function;
this module only wires them together and turns
:class:`~engine.errors.UserError` into a one-line message with a non-zero exit code.
Heavy imports (mujoco, openai, textual) happen inside the command handlers so that
``autocapx --help`` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import sys
from collections.abc import Callable, Sequence

from engine import __version__
from engine.errors import UserError

Register = Callable[[argparse._SubParsersAction], None]


def _registrars() -> list[Register]:
    from engine.commands import api_docs, init, plan, session, sim, skills, stats, trial

    return [
        init.register,
        session.register,
        plan.register,
        *_plugins(),
        skills.register,
        trial.register,
        sim.register,
        api_docs.register,
        stats.register,
    ]


def _plugins() -> list[Register]:
    """Command groups other packages register (the console: ``tui``, ``attach``, ``serve``)."""
    from importlib.metadata import entry_points

    found = []
    for entry in entry_points(group="autocapx.commands"):
        try:
            found.append(entry.load())
        except ImportError:  # a console whose dependencies are missing only loses its commands
            continue
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autocapx",
        description="Experiment console for self-improving code-as-policy robot agents.",
    )
    parser.add_argument("--version", action="version", version=f"autocapx {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 2
        return int(handler(args) or 0)
    except UserError as exc:
        print(f"autocapx: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("autocapx: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # writing our output failed (a full disk, /dev/full)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            with contextlib.suppress(OSError):
                print(f"autocapx: error: cannot write the output: {exc.strerror}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
