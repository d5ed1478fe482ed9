"""Run-time guards inside a sandbox worker: restricted builtins, an audit hook, resource limits.

Installed after the environment is built (the simulator must load its model files first) and
before any untrusted code runs. The audit hook cannot be removed once added, so everything the
process does afterwards, including library code called by the trial, is checked: no writes to
files, no sockets, no subprocesses, no fork, no ctypes; reads only under the Python installation
(lazy imports need them).
"""

from __future__ import annotations

import builtins
import os
import resource
import sys
from collections.abc import Callable

from engine.sandbox.policy import FORBIDDEN_ATTRS, module_allowed

_BLOCKED_EVENTS = (
    "socket.",
    "subprocess.",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "os.remove",
    "os.unlink",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.truncate",
    "os.putenv",
    "os.unsetenv",
    "os.symlink",
    "os.link",
    "shutil.",
    "ctypes.",
    "pty.",
    "fcntl.",
    "mmap.",
    "webbrowser.",
    "urllib.",
    "http.",
    "ftplib.",
    "smtplib.",
    "telnetlib.",
    "sys.settrace",
    "sys.setprofile",
    "code.__new__",
    "pickle.",
    "import_module_from_source",
)

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class PolicyViolation(Exception):
    """Raised inside the worker when trial code does something the policy forbids."""


_trusted_depth = 0
"""> 0 while an environment (API) function runs: it may use ctypes (OpenGL) but still not files,
sockets or processes. Trial code cannot reach this counter."""

VIOLATIONS: list[str] = []
"""Every violation raised in the current block, kept even if trial code catches the exception."""


def _violation(message: str) -> PolicyViolation:
    VIOLATIONS.append(message)
    return PolicyViolation(message)


def _read_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.__file__)}
    roots |= {p for p in sys.path if p and os.path.isdir(p)}
    roots |= {"/usr/lib", "/usr/share", "/usr/local/lib", "/proc/self", "/sys/devices/system/cpu"}
    return tuple(sorted(os.path.realpath(r) for r in roots))


def install_audit_hook() -> None:
    """Block file writes, reads outside the Python installation, and process/network access."""
    roots = _read_roots()

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (list(args) + [None, None, None])[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing:
                raise _violation(f"writing files is not allowed ({path!r})")
            if isinstance(path, int):
                raise _violation("opening file descriptors is not allowed")
            if isinstance(path, (str, bytes, os.PathLike)):
                real = os.path.realpath(os.fsdecode(path))
                if not real.startswith(roots):
                    raise _violation(f"reading files is not allowed ({os.fsdecode(path)!r})")
            return
        if event.startswith("ctypes.") and _trusted_depth > 0:
            return
        if event.startswith(_BLOCKED_EVENTS):
            raise _violation(f"{event} is not allowed in trial code")

    sys.addaudithook(hook)


def trusted(fn: Callable) -> Callable:
    """Wrap an environment function so the libraries it drives (OpenGL via ctypes) keep working."""
    import functools

    @functools.wraps(fn)
    def call(*args: object, **kwargs: object) -> object:
        global _trusted_depth
        _trusted_depth += 1
        try:
            return fn(*args, **kwargs)
        finally:
            _trusted_depth -= 1

    return call


def _guarded_import(real_import: Callable) -> Callable:
    def guarded(name: str, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
        if level or not module_allowed(name):
            VIOLATIONS.append(f"import of {name!r} is not allowed in trial code")
            raise ImportError(VIOLATIONS[-1])
        for item in fromlist or ():
            if item.startswith("_") or item in FORBIDDEN_ATTRS:
                VIOLATIONS.append(f"importing {item!r} from {name!r} is not allowed")
                raise ImportError(VIOLATIONS[-1])
        return real_import(name, globals, locals, fromlist, level)

    return guarded


def _safe_getattr(obj: object, name: str, *default: object) -> object:
    if not isinstance(name, str) or name.startswith("_") or name in FORBIDDEN_ATTRS:
        raise _violation(f"getattr of {name!r} is not allowed")
    return getattr(obj, name, *default)


def _safe_hasattr(obj: object, name: str) -> bool:
    if not isinstance(name, str) or name.startswith("_"):
        raise _violation(f"hasattr of {name!r} is not allowed")
    return hasattr(obj, name)


_REMOVED = (
    "open",
    "exec",
    "eval",
    "compile",
    "globals",
    "locals",
    "vars",
    "breakpoint",
    "input",
    "help",
    "memoryview",
    "setattr",
    "delattr",
    "exit",
    "quit",
    "copyright",
    "credits",
    "license",
)


def restricted_builtins() -> dict:
    """Builtins for the trial namespace: no interpreter access, guarded import and getattr."""
    safe = {k: v for k, v in vars(builtins).items() if k not in _REMOVED}
    safe["__import__"] = _guarded_import(builtins.__import__)
    safe["getattr"] = _safe_getattr
    safe["hasattr"] = _safe_hasattr
    return safe


def apply_resource_limits(memory_bytes: int, cpu_seconds: int | None = None) -> None:
    """Cap address space, forbid core dumps and file growth; CPU time is set per block."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    if cpu_seconds is not None:
        set_cpu_budget(cpu_seconds)


def set_cpu_budget(seconds: float) -> None:
    """Allow ``seconds`` more CPU time from now (SIGXCPU ends the worker past it)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    soft = int(spent + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY and soft > hard:
        soft = hard
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
