"""Run-time guards inside a sandbox worker: restricted builtins, module proxies, an audit hook,
resource limits.

Installed after the environment is built (the simulator must load its model files first) and
before any untrusted code runs.

* Restricted builtins: no ``open``/``exec``/``eval``/``compile``/``globals``...; ``__import__``
  enforces the policy's allow-list, ``getattr``/``hasattr`` refuse private and internal names.
* Modules reach trial code only as read-only :class:`ModuleProxy` objects, which refuse private
  names and hand out only allowed submodules. Without them ``numpy.lib._npyio_impl.os`` was a way
  to ``os`` (and ``os.environ``, ``sys.modules``), and ``np.linalg.norm = ...`` would have changed
  the numpy the simulator itself uses.
  They also apply the attribute allow-lists (``cv2``), refuse blocked submodules (``scipy.io``)
  before importing them, and hand out checking wrappers for the library callables whose
  arguments reach C code that opens files (Qhull's ``TI``/``TO`` options, HiGHS's file options):
  what native code does is out of the audit hook's sight.
* The audit hook sees what library code does on the trial's behalf. It decides by *who is on the
  stack*, not by a flag that trial code could flip: it walks the frames from the event down to
  the nearest boundary, which is trial code (a file name the worker compiled), an environment API
  call (the code object of :func:`trusted`'s wrapper), an import in progress (importlib), or
  nothing (the worker itself). Files cannot be written and processes, sockets, signals cannot be
  used from any context; native code (ctypes) only inside an API call or an import (OpenGL needs
  it); no exec of code on trial code's behalf except by the stdlib's code generators (dataclasses,
  namedtuple); reads only under the Python installation, system libraries and the engine package
  (importing may also list ``sys.path`` directories; API calls may read anything).

The audit hook cannot be removed once added. Modules whose import does what it refuses from
anyone (cv2 sets ``os.environ``) are imported just before it goes up (:data:`PRELOADED_MODULES`).
"""

from __future__ import annotations

import _thread
import builtins
import importlib
import os
import resource
import signal
import sys
import threading
import time
import types
from collections.abc import Callable

from engine.sandbox.policy import (
    CALL_CHECKS,
    FORBIDDEN_ATTRS,
    READABLE_DUNDERS,
    allowed_imports_text,
    attribute_problem,
    member_problem,
    module_access,
    module_allowed,
)


class PolicyViolation(Exception):
    """Raised inside the worker when trial code does something the policy forbids."""


VIOLATIONS: list[str] = []
"""Every violation raised in the current block, kept even if trial code catches the exception."""

TRIAL_FILES: set[str] = set()
"""File names under which the worker compiled trial code (``<block 3>``, ``<library>`` ...): a
frame with one of these is trial code. Only the worker adds to it."""


def register_trial_file(filename: str) -> None:
    TRIAL_FILES.add(filename)


def _violation(message: str) -> PolicyViolation:
    VIOLATIONS.append(message)
    return PolicyViolation(message)


# --------------------------------------------------------------------------- API calls
def trusted(fn: Callable) -> Callable:
    """Wrap an environment function: the audit hook treats everything under it as the API's doing
    (OpenGL may use ctypes) until trial code is on the stack again (a callback it passed in)."""

    def api_call(*args: object, **kwargs: object) -> object:
        return fn(*args, **kwargs)

    for attr in ("__name__", "__qualname__", "__doc__"):
        try:
            setattr(api_call, attr, getattr(fn, attr))
        except (AttributeError, TypeError):
            pass
    return api_call


_TRUSTED_CODE = trusted(len).__code__
"""Every wrapper made by :func:`trusted` runs this code object; the hook recognises it by
identity, which trial code cannot forge (it can reach neither code objects nor FunctionType)."""


# --------------------------------------------------------------------------- module proxies
class ModuleProxy:
    """A module as trial code sees it: read-only, no private names, allowed submodules only."""

    __slots__ = ("_ModuleProxy__module", "_ModuleProxy__mode")

    def __init__(self, module: types.ModuleType, mode: str = "full") -> None:
        object.__setattr__(self, "_ModuleProxy__module", module)
        object.__setattr__(self, "_ModuleProxy__mode", mode)

    def __init_subclass__(cls, **kwargs: object) -> None:
        raise TypeError("ModuleProxy cannot be subclassed")

    def __getattribute__(self, name: str) -> object:
        module = object.__getattribute__(self, "_ModuleProxy__module")
        mode = object.__getattribute__(self, "_ModuleProxy__mode")
        if name in ("__name__", "__doc__"):
            return getattr(module, name, None)
        if name == "__class__":  # isinstance() falls back to it; the proxy class leads nowhere
            return ModuleProxy
        if name == "__all__":  # from module import *
            return _public_names(module, mode)
        if name in READABLE_DUNDERS:
            value = getattr(module, name, None)
            if isinstance(value, str):
                return value
            raise AttributeError(name)
        if name.startswith("__"):
            raise AttributeError(name)  # interpreter probing (__spec__, __path__ ...): not there
        full = f"{module.__name__}.{name}"
        if mode == "path" and module_access(full) is None:
            raise _violation(f"{full} is not available to trial code")
        if problem := attribute_problem(name):
            raise _violation(f"{module.__name__}.{name}: {problem}")
        # before reading it: a blocked submodule is not even imported (scipy imports lazily)
        if problem := member_problem(module.__name__, name):
            raise _violation(problem)
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):
            return sandbox_module(value)
        if mode == "path":
            raise _violation(f"{full} is not available to trial code")
        if problem := member_problem(module.__name__, name, value):
            raise _violation(problem)
        return checked_callable(value)

    def __setattr__(self, name: str, value: object) -> None:
        module = object.__getattribute__(self, "_ModuleProxy__module")
        raise _violation(f"module {module.__name__!r} is read-only in trial code")

    def __delattr__(self, name: str) -> None:
        ModuleProxy.__setattr__(self, name, None)

    def __dir__(self) -> list[str]:
        module = object.__getattribute__(self, "_ModuleProxy__module")
        return _public_names(module, object.__getattribute__(self, "_ModuleProxy__mode"))

    def __repr__(self) -> str:
        module = object.__getattribute__(self, "_ModuleProxy__module")
        return f"<module {module.__name__!r} (sandboxed)>"

    def __reduce_ex__(self, protocol: object) -> object:
        raise TypeError("modules cannot be copied or pickled")


def _public_names(module: types.ModuleType, mode: str) -> list[str]:
    if mode == "path":
        names = [n for n in dir(module) if module_access(f"{module.__name__}.{n}") is not None]
    else:
        names = getattr(module, "__all__", None) or dir(module)
    return sorted(
        n
        for n in names
        if isinstance(n, str)
        and attribute_problem(n) is None
        and member_problem(module.__name__, n, getattr(module, n, None)) is None
    )


# --------------------------------------------------------------------------- checked calls
_CHECKED: dict[int, tuple[object, object]] = {}
"""``id(original)`` -> (original, what trial code gets): the wrapper for a callable in
:data:`~engine.sandbox.policy.CALL_CHECKS`, the original itself for anything else. Holding the
original keeps its id from being reused."""


def checked_callable(value: object) -> object:
    """What trial code gets for a module attribute ``value``: for the callables whose arguments
    the policy checks (scipy's Qhull classes, linprog, milp) a checking wrapper (a subclass for a
    class, so ``isinstance`` holds for what it creates), the value itself otherwise."""
    if not isinstance(value, (type, types.FunctionType)):
        return value
    hit = _CHECKED.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    try:
        key = (getattr(value, "__module__", None), getattr(value, "__qualname__", None))
        check = CALL_CHECKS.get(key)
    except Exception:  # an odd class whose __module__ is computed: none of the checked ones
        key, check = (None, None), None
    out = value if check is None else _checking_wrapper(value, check, f"{key[0]}.{key[1]}")
    _CHECKED[id(value)] = (value, out)
    return out


def _checked_arguments(check: Callable, label: str, args: tuple, kwargs: dict) -> tuple:
    # dicts are copied first, so that what was checked is what the library gets
    args = tuple(dict(a) if type(a) is dict else a for a in args)
    kwargs = {k: dict(v) if type(v) is dict else v for k, v in kwargs.items()}
    if problem := check(args, kwargs):
        raise _violation(f"{label.rsplit('.', 1)[-1]}: {problem}")
    return args, kwargs


def _checking_wrapper(original: type | Callable, check: Callable, label: str) -> object:
    if isinstance(original, type):

        class Checked(original):
            def __init__(self, *args: object, **kwargs: object) -> None:
                args, kwargs = _checked_arguments(check, label, args, kwargs)
                super().__init__(*args, **kwargs)

        wrapper: object = Checked
    else:

        def checked(*args: object, **kwargs: object) -> object:
            args, kwargs = _checked_arguments(check, label, args, kwargs)
            return original(*args, **kwargs)

        wrapper = checked
    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        try:
            setattr(wrapper, attr, getattr(original, attr))
        except (AttributeError, TypeError):
            pass
    return wrapper


_PROXIES: dict[tuple[str, str], ModuleProxy] = {}


def sandbox_module(module: types.ModuleType, mode: str | None = None) -> ModuleProxy:
    """The proxy trial code gets for ``module`` (one per module, so ``np is numpy`` holds).

    ``mode`` forces the access level (modules the environment put in the namespace are meant for
    trial code); otherwise the policy decides and a refused module is a violation."""
    access = mode or module_access(module.__name__)
    if access is None:
        raise _violation(f"module {module.__name__!r} is not available to trial code")
    key = (module.__name__, access)
    proxy = _PROXIES.get(key)
    if proxy is None:
        proxy = _PROXIES[key] = ModuleProxy(module, access)
    return proxy


def sandbox_namespace(namespace: dict) -> dict:
    """The environment's namespace as trial code gets it: modules proxied, functions trusted."""
    out: dict = {}
    for name, value in namespace.items():
        if isinstance(value, types.ModuleType):
            out[name] = sandbox_module(value, mode="full")
        elif callable(value) and not isinstance(value, type):
            out[name] = trusted(value)
        else:
            out[name] = value
    return out


# --------------------------------------------------------------------------- audit hook
_ALWAYS_BLOCKED = (
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
    "signal.pthread_kill",
    "os.remove",
    "os.unlink",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.mkfifo",
    "os.mknod",
    "os.chmod",
    "os.chown",
    "os.chflags",
    "os.chdir",
    "os.truncate",
    "os.utime",
    "os.putenv",
    "os.unsetenv",
    "os.symlink",
    "os.link",
    "os.setxattr",
    "os.removexattr",
    "shutil.",
    "tempfile.",
    "sqlite3.",
    "pty.",
    "fcntl.",
    "mmap.",
    "webbrowser.",
    "urllib.",
    "http.",
    "ftplib.",
    "smtplib.",
    "imaplib.",
    "poplib.",
    "telnetlib.",
    "sys.settrace",
    "sys.setprofile",
    "sys.addaudithook",
    "sys._current_frames",
    "sys._current_exceptions",
    "gc.get_objects",
    "gc.get_referrers",
    "gc.get_referents",
    "builtins.input",
    "builtins.breakpoint",
    "pickle.",
    "import_module_from_source",
)
"""Events no code in the worker needs once the guards are up: blocked whoever raises them."""

_FREQUENT = frozenset({"builtins.id", "sys._getframe", "marshal.loads", "import"})
"""Harmless events raised thousands of times per block: leave the hook at once."""

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_IMPORTLIB_FILES = frozenset(
    {"<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>"}
)


def _stdlib_file(*parts: str) -> str:
    return os.path.join(os.path.dirname(os.__file__), *parts)


_CODEGEN_FILES = frozenset(
    {
        _stdlib_file("dataclasses.py"),  # @dataclass builds __init__ & co with exec
        _stdlib_file("collections", "__init__.py"),  # namedtuple builds __new__ with eval
    }
)
"""Standard-library modules that may exec code while trial code is on the stack: they generate it
from validated identifiers, never from trial strings."""


def _read_roots(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Where trial and worker code may read: the Python installation, system libraries, the
    engine package (never the working directory, the home directory or ``/proc``)."""
    import engine

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots |= {os.path.dirname(os.__file__), os.path.dirname(engine.__file__)}
    roots |= {p for p in sys.path if "site-packages" in p or "dist-packages" in p}
    roots |= {"/usr/lib", "/usr/lib64", "/usr/share", "/usr/local/lib", "/sys/devices/system/cpu"}
    roots |= set(extra)
    return _as_prefixes(roots)


def _as_prefixes(paths: set[str]) -> tuple[str, ...]:
    real = {os.path.realpath(p) for p in paths if p}
    return tuple(sorted(p if p.endswith(os.sep) else p + os.sep for p in real))


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    real = os.path.realpath(path)
    return (real + os.sep).startswith(prefixes)


PRELOADED_MODULES = ("cv2",)
"""Modules trial code may import whose first import does what the hook refuses from anyone:
imported (if installed) just before the hook goes up. cv2's loader sets ``LD_LIBRARY_PATH`` in
``os.environ`` (an ``os.putenv``); allowing that during imports would let anyone who reaches an
importlib function set the environment."""


def preload_modules() -> None:
    for name in PRELOADED_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # not installed or broken: trial code's import fails the same way
            pass


def install_audit_hook(extra_read_roots: tuple[str, ...] = ()) -> None:
    """Block writes, processes, sockets and signals from anyone, native code and dynamic code
    from trial code, and reads outside the roots (see the module docstring). The modules of
    :data:`PRELOADED_MODULES` are imported first."""
    preload_modules()
    roots = _read_roots(extra_read_roots)
    import_roots = roots + _as_prefixes({p for p in sys.path if p and os.path.isdir(p)})
    trusted_code, trial_files = _TRUSTED_CODE, TRIAL_FILES
    getframe = sys._getframe

    def context() -> str:
        frame = getframe(3)  # skip this function, decide() and the hook
        while frame is not None:
            code = frame.f_code
            if code is trusted_code:
                return "api"
            name = code.co_filename
            if name in trial_files:
                return "trial"
            if name in _IMPORTLIB_FILES:
                return "import"
            frame = frame.f_back
        return "worker"

    def caller_is_trial() -> bool:
        return getframe(3).f_code.co_filename in trial_files

    def check_read(path: object, what: str, listing: bool = False) -> None:
        if isinstance(path, int):
            raise _violation("opening file descriptors is not allowed")
        if path is None:
            path = "."
        if not isinstance(path, (str, bytes, os.PathLike)):
            return
        where = context()
        if where == "api":
            return
        text = os.fsdecode(path)
        if text in trial_files:
            # CPython's compiler reopens a source file by name to quote the line of a
            # SyntaxError; a block's name is no file. Refuse the open quietly (the compiler
            # falls back to the text it has): a syntax error is not a policy violation.
            raise FileNotFoundError(text)
        # an import may list any sys.path directory, but reads only ever come from the roots:
        # importlib functions are callable by anyone who got hold of them
        allowed = import_roots if (where == "import" and listing) else roots
        if not _under(text, allowed):
            raise _violation(f"{what} is not allowed ({text!r})")

    busy: set[int] = set()
    get_ident = _thread.get_ident

    def hook(event: str, args: tuple) -> None:
        # Reading frame.f_code raises an audit event itself: while the hook is deciding in this
        # thread, only the hook runs there, so its own events are let through (per thread, so
        # that another thread's events are still checked).
        if event in _FREQUENT:
            return
        me = get_ident()
        if me in busy:
            return
        busy.add(me)
        try:
            decide(event, args)
        finally:
            busy.discard(me)

    def decide(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (list(args) + [None, None, None])[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing:
                raise _violation(f"writing files is not allowed ({path!r})")
            check_read(path, "reading files")
        elif event in ("os.listdir", "os.scandir", "glob.glob", "glob.glob/2"):
            check_read(args[0] if args else None, "listing directories", listing=True)
        elif event.startswith("ctypes."):
            if context() not in ("api", "import"):
                raise _violation(f"{event} (native code) is not allowed in trial code")
        elif event == "exec":  # compiling alone runs nothing (typing compiles annotations)
            if context() == "trial" and getframe(2).f_code.co_filename not in _CODEGEN_FILES:
                raise _violation("exec is not allowed in trial code")
        elif event in ("code.__new__", "function.__new__"):
            if context() in ("trial", "worker"):
                raise _violation(f"{event} is not allowed in trial code")
        elif event == "object.__getattr__":
            if caller_is_trial():
                raise _violation(f"access to {args[1]!r} is not allowed")
        elif event in ("object.__setattr__", "object.__delattr__"):
            if (len(args) > 1 and args[1] == "__code__") or caller_is_trial():
                raise _violation(f"changing {args[1]!r} is not allowed")
        elif event.startswith("resource."):
            if event != "resource.getrlimit" and context() != "worker":
                raise _violation(f"{event} is not allowed in trial code")
        elif event.startswith(_ALWAYS_BLOCKED):
            raise _violation(f"{event} is not allowed in trial code")

    sys.addaudithook(hook)


# --------------------------------------------------------------------------- builtins
def _guarded_import(real_import: Callable) -> Callable:
    def guarded(name: str, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
        if type(fromlist) is list:
            # PyImport_Import: C code of a library (numpy importing numpy._core._methods) while
            # a trial frame is current. It passes a list and reads sys.modules afterwards,
            # ignoring what we return; an import statement passes None or a tuple.
            return real_import(name, globals, locals, fromlist, level)
        fromlist = tuple(fromlist or ())
        for item in fromlist:
            if item != "*" and (item.startswith("_") or item in FORBIDDEN_ATTRS):
                raise ImportError(_violation(f"importing {item!r} from {name!r} is not allowed"))
        via_path = (
            module_access(name) == "path"
            and fromlist
            and all(module_allowed(f"{name}.{item}") for item in fromlist)
        )
        if level or not (module_allowed(name) or via_path):
            raise ImportError(
                _violation(
                    f"import of {name!r} is not allowed in trial code "
                    f"(allowed: {allowed_imports_text()})"
                )
            )
        for item in fromlist:
            if item != "*" and (problem := member_problem(name, item)):
                raise ImportError(_violation(problem))
        module = real_import(name, globals, locals, fromlist, level)
        return sandbox_module(module)

    return guarded


def _safe_getattr(obj: object, name: str, *default: object) -> object:
    if attribute_problem(name) is not None:
        raise _violation(f"getattr of {name!r} is not allowed")
    return getattr(obj, name, *default)


def _safe_hasattr(obj: object, name: str) -> bool:
    if attribute_problem(name) is not None:
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
    "__loader__",
    "__spec__",
    "__package__",
)


def restricted_builtins() -> dict:
    """Builtins for the trial namespace: no interpreter access, guarded import and getattr."""
    safe = {k: v for k, v in vars(builtins).items() if k not in _REMOVED}
    safe["__import__"] = _guarded_import(builtins.__import__)
    safe["getattr"] = _safe_getattr
    safe["hasattr"] = _safe_hasattr
    return safe


# --------------------------------------------------------------------------- resource limits
def apply_resource_limits(memory_bytes: int, cpu_seconds: int | None = None) -> None:
    """Cap address space, forbid core dumps and file growth; CPU time is set per block
    (:class:`CpuWatchdog`).

    File size 0 also stops writes the audit hook cannot see (C libraries writing by path).
    RLIMIT_NPROC is not used: it does not bind root, counts every process of the user (other
    workers too) and counts threads, which OpenGL may start lazily; fork is stopped by the audit
    hook and by keeping native code out of reach instead."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    if cpu_seconds is not None:
        set_cpu_budget(cpu_seconds)


def set_cpu_budget(seconds: float) -> None:
    """Allow at least ``seconds`` more CPU time from now (SIGXCPU ends the worker past it).

    RLIMIT_CPU counts whole seconds: the kernel ends the worker up to a second later than asked.
    The last of :class:`CpuWatchdog`'s layers, not the measure of a block's budget."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    soft = int(spent + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY and soft > hard:
        soft = hard
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def lift_cpu_budget() -> None:
    """No CPU limit of the worker's own between blocks (the hard limit it was given stays)."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


CPU_LIMIT_EXIT = 152
"""Exit status of a worker its CPU watchdog ended (128 + SIGXCPU, as a shell shows the kernel's
CPU-limit kill): the parent reads it as the block's own CPU limit."""
CPU_POLL_S = 0.01
"""How often the watchdog reads the process's CPU time while a block runs."""
CPU_BACKSTOP_S = 0.25
"""How far past the budget the kernel's profiling timer ends the worker when the watchdog could
not: one long C call that holds the GIL (``sum(range(10**12))``) starves the watchdog's thread."""


class CpuWatchdog:
    """Ends the worker once the running block has used its CPU budget, in CPU time.

    The budget is measured in process CPU time (every thread's, as the kernel counts it) from
    the moment the block starts, so a loaded machine changes nothing: a block waiting for a core
    accrues no CPU time, and the limit it hits is the one it was given, not a second more.
    Three layers, each for what the one before cannot do:

    1. a thread reads :func:`time.process_time` every :data:`CPU_POLL_S`; past the budget it
       hands ``on_exceeded(used_s, budget_s)`` the CPU time the block used (the worker tells
       the parent) and exits the process with :data:`CPU_LIMIT_EXIT`. Precise to the poll
       interval and one GIL switch;
    2. the kernel's profiling timer (``ITIMER_PROF``, process CPU time; ``SIGPROF`` left at its
       default action, which ends the process) at budget + :data:`CPU_BACKSTOP_S`, for code that
       holds the GIL and so keeps the thread from running;
    3. ``RLIMIT_CPU`` (whole seconds, ``SIGXCPU``) a second or so past that, should the timer
       have been disturbed.

    Between blocks nothing runs against a budget (the timer is stopped, the soft limit lifted):
    the worker's own work after a block (status, frames) is the parent's wall clock's business.
    """

    def __init__(self, on_exceeded: Callable[[float, float], None]) -> None:
        self._on_exceeded = on_exceeded
        self._lock = threading.Lock()
        self._armed = threading.Event()
        self._start = 0.0
        self._budget: float | None = None
        signal.signal(signal.SIGPROF, signal.SIG_DFL)  # main thread: the worker's start
        # Started now, while there is address space for its stack (a block may use it all).
        self._thread = threading.Thread(target=self._watch, name="cpu-watchdog", daemon=True)
        self._thread.start()

    def arm(self, budget_s: float) -> None:
        """A block starts: it may use ``budget_s`` seconds of CPU time from now."""
        set_cpu_budget(budget_s + CPU_BACKSTOP_S)
        with self._lock:
            self._start = time.process_time()
            self._budget = budget_s
        signal.setitimer(signal.ITIMER_PROF, budget_s + CPU_BACKSTOP_S)
        self._armed.set()

    def disarm(self) -> float:
        """The block has ended: stop counting; returns the CPU seconds it used."""
        signal.setitimer(signal.ITIMER_PROF, 0)
        with self._lock:
            used = time.process_time() - self._start
            self._budget = None
            self._armed.clear()
        lift_cpu_budget()
        return used

    def _watch(self) -> None:
        while True:
            self._armed.wait()
            with self._lock:  # held to the end if it fires: disarm() cannot slip in between
                if self._budget is not None:
                    used = time.process_time() - self._start
                    if used >= self._budget:
                        try:
                            self._on_exceeded(used, self._budget)
                        finally:
                            os._exit(CPU_LIMIT_EXIT)
            time.sleep(CPU_POLL_S)
