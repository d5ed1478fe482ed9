"""The sandbox worker process: owns one environment and runs trial code blocks in it.

Started by :class:`engine.sandbox.worker.SandboxWorker` as ``python -m engine.sandbox.child``.
Speaks JSON lines: requests on stdin, replies and live events on a private copy of the original
stdout. File descriptors 1 and 2 are pointed away from the protocol so that nothing (trial
prints, C libraries' warnings) can corrupt it; trial prints are captured and forwarded as
``stdout`` events, capped per block. A block past its CPU budget ends the worker
(:class:`~engine.sandbox.guards.CpuWatchdog`); its last message, ``limit``, says how much CPU
time the block used.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import sys
import threading
import time
import traceback
import types

from engine.cpu_priority import lower_session_group
from engine.sandbox.policy import check_source

STDOUT_CAP = 64 * 1024
GL_INHERITED_ENV = "AUTOCAPX_GL_INHERITED"
"""Set (by the fork server) in a worker that inherited a warm renderer."""
STATUS_INTERVAL_S = 0.1


class Channel:
    """Line-oriented JSON messages to the parent over a private file descriptor."""

    def __init__(self, fd: int) -> None:
        self._out = os.fdopen(fd, "w", buffering=1, encoding="utf-8")
        self._lock = threading.Lock()

    def send(self, message: dict, timeout_s: float = -1) -> bool:
        """Write one message; with ``timeout_s``, give up (False) if another thread holds the
        channel that long."""
        line = json.dumps(message, default=str)
        if not self._lock.acquire(timeout=timeout_s):
            return False
        try:
            self._out.write(line + "\n")
            self._out.flush()
        finally:
            self._lock.release()
        return True


class CapturedStdout(io.TextIOBase):
    """``sys.stdout`` for trial code: forwards complete lines live and keeps a capped copy."""

    def __init__(self, channel: Channel, cap: int = STDOUT_CAP, stream: str = "stdout") -> None:
        self.channel, self.cap, self.stream = channel, cap, stream
        self.kept: list[str] = []
        self.size = 0
        self.truncated = False
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        n = len(text)
        if self.truncated:
            return n
        room = self.cap - self.size
        if n > room:
            text, self.truncated = text[:room], True
        self.size += len(text)
        self.kept.append(text)
        self._partial += text
        if "\n" in self._partial:
            *lines, self._partial = self._partial.split("\n")
            for line in lines:
                self.channel.send({"type": "stdout", "stream": self.stream, "line": line})
        if self.truncated:
            self.flush()
            note = f"[output truncated at {self.cap} bytes]"
            self.channel.send({"type": "stdout", "stream": self.stream, "line": note})
        return n

    def flush(self) -> None:
        if self._partial:
            self.channel.send({"type": "stdout", "stream": self.stream, "line": self._partial})
            self._partial = ""

    def value(self) -> str:
        text = "".join(self.kept)
        if self.truncated:
            text += f"\n[output truncated at {self.cap} bytes]\n"
        return text


def _trial_traceback(exc: BaseException, block_name: str) -> str:
    """The traceback limited to frames of trial code (and the API call it failed in)."""
    frames = traceback.extract_tb(exc.__traceback__)
    keep = [f for f in frames if f.filename.startswith("<")]
    if frames and frames[-1] not in keep:
        keep.append(frames[-1])
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(keep)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


class Worker:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.env = None
        self.namespace: dict = {}
        self._last_status = 0.0
        self.memory_bytes = 0
        self.static_policy = True
        self.summary_fn = None
        self.after_ready_s = 0.0
        """Seconds spent on the start's deferred part (see :meth:`after_ready`), reported with
        the next block's result."""

    # --------------------------------------------------------------- start
    def start(self, msg: dict) -> dict:
        t0 = time.perf_counter()
        module_name, _, attr = msg["factory"].partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        kwargs = dict(msg.get("kwargs") or {})
        self.env = factory(**kwargs)
        t_env = time.perf_counter()
        if hasattr(self.env, "set_status_listener"):
            self.env.set_status_listener(self._on_status)
        self.want_frames = bool(msg.get("frames"))
        self.static_policy = msg.get("static_policy", True) is not False
        from engine.sandbox.guards import (
            CpuWatchdog,
            apply_resource_limits,
            install_audit_hook,
            restricted_builtins,
            sandbox_namespace,
            trusted,
        )

        self.api_names = frozenset(getattr(self.env, "api_names", ()))

        self.memory_bytes = int(msg.get("memory_bytes") or 0)
        if self.memory_bytes:
            apply_resource_limits(self.memory_bytes)
        sys.setrecursionlimit(int(msg.get("recursion_limit") or 2000))
        self.watchdog = CpuWatchdog(self._cpu_exceeded)
        sys.dont_write_bytecode = True  # importlib must not try (and fail) to write .pyc files

        # A worker forked with a warm renderer has its GL context already: the first frame is
        # made after "ready" (see after_ready), while the parent waits for the LLM.
        self._prepare_later = hasattr(self.env, "prepare") and bool(
            os.environ.pop(GL_INHERITED_ENV, "")
        )
        if hasattr(self.env, "prepare") and not self._prepare_later:
            self.env.prepare()  # e.g. create the GL context while ctypes may still load libraries
        t_prepare = time.perf_counter()
        # modules become read-only proxies, functions trusted API calls (for the audit hook)
        self.namespace = sandbox_namespace(self.env.namespace)
        install_audit_hook()
        self._status = trusted(self.env.status)
        self._summary = trusted(self.env.summary)
        self._frame = trusted(getattr(self.env, "frame_png", lambda: b""))
        self.builtins = restricted_builtins()
        self.namespace["__builtins__"] = self.builtins
        self.namespace["__name__"] = "__main__"
        block_globals = getattr(self.env, "block_globals", None)
        self._block_globals = trusted(block_globals) if block_globals else None
        self.library: dict = {}
        """Functions the library seeding defined, bound again before every block (as CaP-X
        binds its helper functions again)."""
        budget = float(msg.get("seed_timeout_s", 60))
        parts = list(msg.get("seed_parts") or [])
        if (msg.get("seed_code") or "").strip():
            parts = [msg["seed_code"]]
        for part in parts:
            error = self._seed(part, budget)
            if error:
                return {"type": "error", "message": "library seeding failed: " + error}
        self.skill_calls: dict[str, list[int]] = {}
        self.library = {
            name: _counted(name, fn, self.skill_calls) if isinstance(fn, types.FunctionType) else fn
            for name, fn in self.library.items()
        }
        counts = getattr(self.env, "api_call_counts", None)
        self._api_counts = trusted(counts) if counts else (lambda: {})
        self.namespace.update(self.library)
        ready = {"type": "ready", "status": self._status(), "summary": self._summary()}
        ready["phases"] = {  # where a worker's start goes (bench/trial_bench.py prints it)
            "environment": t_env - t0,
            "first_frame": t_prepare - t_env,
            "guards_and_library": time.perf_counter() - t_prepare,
        }
        if self.want_frames and hasattr(self.env, "frame_png"):
            ready["frame"] = base64.b64encode(self._frame()).decode()
        return ready

    def after_ready(self) -> None:
        """What a forked worker does once it has said "ready": the environment's preparation
        (the first frame, with the GL context it inherited), as an API call; a failure shows
        again, and is reported, where the first block needs the frame."""
        if getattr(self, "_prepare_later", False) and self.env is not None:
            self._prepare_later = False
            from engine.sandbox.guards import trusted

            t0 = time.perf_counter()
            try:
                trusted(self.env.prepare)()
            except Exception:  # noqa: BLE001
                pass
            self.after_ready_s = time.perf_counter() - t0

    def _seed(self, source: str, budget_s: float) -> str:
        """Execute library source in a namespace of its own (the API, builtins, nothing of the
        trial's) and keep the functions it defines. Skills seeded together find each other and
        their imports there; the trial namespace gets only the functions, so a library never
        hands the trial a module (``np``) that the base API condition would not have."""
        library = {
            k: v for k, v in self.namespace.items() if k.startswith("__") or k in self.api_names
        }
        before = dict(library)
        real, self.namespace = self.namespace, library
        try:
            result = self.execute(source, "<library>", budget_s=budget_s)
        finally:
            self.namespace = real
        if not result["ok"]:
            return result["error_line"]
        for name, value in library.items():
            if callable(value) and before.get(name) is not value:
                self.library[name] = value
        return ""

    def _cpu_exceeded(self, used_s: float, budget_s: float) -> None:
        """The watchdog's last word before it ends the worker: how much CPU the block used."""
        limit = {"type": "limit", "limit": "cpu", "used_s": used_s, "budget_s": budget_s}
        self.channel.send(limit, timeout_s=1.0)

    def _on_status(self, status: dict) -> None:
        now = time.monotonic()
        if now - self._last_status >= STATUS_INTERVAL_S:
            self._last_status = now
            self.channel.send({"type": "status", "status": status})

    # ----------------------------------------------------------------- run
    def execute(self, code: str, name: str, budget_s: float) -> dict:
        """Check and run one block; whatever it does comes back as a result, never as an error."""
        from engine.sandbox import guards
        from engine.sandbox.guards import PolicyViolation

        guards.VIOLATIONS.clear()
        guards.register_trial_file(name)  # before parsing: see the audit hook's check_read
        violations = check_source(code, name) if self.static_policy else []
        if violations:
            text = "; ".join(str(v) for v in violations[:5])
            return {
                "ok": False,
                "stdout": "",
                "stderr": f"PolicyViolation: {text}\n",
                "exception": None,
                "violation": text,
                "error_line": f"PolicyViolation: {text}",
                "cpu_s": 0.0,
            }
        captured = CapturedStdout(self.channel)
        captured_err = CapturedStdout(self.channel, stream="stderr")
        real_stdout, real_stderr = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = captured, captured_err
        exception = violation = None
        stderr = ""
        self.namespace["__builtins__"] = self.builtins  # whatever the last block did to it
        self.watchdog.arm(budget_s)
        try:
            compiled = compile(code, name, "exec")
            exec(compiled, self.namespace)  # noqa: S102 (this is the sandbox)
        except PolicyViolation as exc:
            violation = str(exc)
            stderr = _trial_traceback(exc, name)
        except MemoryError:
            exception = (
                "MemoryError: the block ran out of memory (limit " + _mib(self.memory_bytes) + ")"
            )
            stderr = exception + "\n"
        except SyntaxError as exc:
            exception = f"{_type_name(exc)}: {exc.msg} (line {exc.lineno})"
            stderr = "".join(traceback.format_exception_only(type(exc), exc))
        except BaseException as exc:  # SystemExit, KeyboardInterrupt, RecursionError, anything
            exception = f"{_type_name(exc)}: {_safe_str(exc)}{_where(exc, name)}"
            stderr = _trial_traceback(exc, name)
        finally:
            cpu_s = self.watchdog.disarm()
            sys.stdout, sys.stderr = real_stdout, real_stderr
            captured.flush()
            captured_err.flush()
        if violation is None and guards.VIOLATIONS:
            violation = guards.VIOLATIONS[0]  # blocked even though the code caught the error
        stderr = captured_err.value() + stderr
        error_line = violation and f"PolicyViolation: {violation}" or exception or ""
        return {
            "ok": exception is None and violation is None,
            "stdout": captured.value(),
            "stderr": stderr,
            "exception": exception,
            "violation": violation,
            "error_line": error_line,
            "cpu_s": cpu_s,
        }

    def run(self, msg: dict) -> dict:
        frames = {}
        if msg.get("frames") and hasattr(self.env, "frame_png"):
            frames["before"] = base64.b64encode(self._frame()).decode()
        t0 = time.perf_counter()
        timeout_s = float(msg.get("timeout_s", 180))
        cpu_s = msg.get("cpu_s")
        budget_s = float(cpu_s) if cpu_s is not None else timeout_s + 5
        if self._block_globals is not None:  # CaP-X's obs, refreshed, and the API bound again
            from engine.sandbox.guards import sandbox_namespace

            self.namespace.update(sandbox_namespace(self._block_globals()))
        self.namespace.update(self.library)
        self.skill_calls.clear()
        api_before = dict(self._api_counts())
        result = self.execute(msg["code"], msg.get("name", "<block>"), budget_s)
        api_after = self._api_counts()
        result["skill_calls"] = {name: list(n) for name, n in self.skill_calls.items()}
        result["api_calls"] = {
            name: n - api_before.get(name, 0)
            for name, n in api_after.items()
            if n - api_before.get(name, 0)
        }
        result["exec_time_s"] = time.perf_counter() - t0
        result.pop("error_line", None)
        result["status"] = _guarded_call(self._status)
        result["summary"] = _guarded_call(self._summary)
        if msg.get("frames") and hasattr(self.env, "frame_png"):
            frames["after"] = base64.b64encode(self._frame()).decode()
        result["frames"] = frames
        result["type"] = "result"
        result["after_ready_s"], self.after_ready_s = self.after_ready_s, 0.0
        return result


def _counted(name: str, fn: types.FunctionType, tally: dict[str, list[int]]):
    """``fn`` as the trial's code calls it: each call, and each call that raised, is counted
    (usage comes from what ran, not from names in the code). A skill's own calls of other skills
    go through the library namespace and are not counted: they are the skill's doing."""

    def skill_call(*args: object, **kwargs: object) -> object:
        entry = tally.setdefault(name, [0, 0])
        entry[0] += 1
        try:
            return fn(*args, **kwargs)
        except BaseException:
            entry[1] += 1
            raise

    skill_call.__name__ = skill_call.__qualname__ = fn.__name__
    skill_call.__doc__ = fn.__doc__
    return skill_call


def _guarded_call(fn) -> dict:
    """status()/summary() of the environment; an error there is reported, not fatal."""
    try:
        value = fn()
        json.dumps(value, default=str)
        return value
    except BaseException as exc:
        return {"error": f"{_type_name(exc)}: {_safe_str(exc)}"}


def _where(exc: BaseException, name: str) -> str:
    """`` (line N)`` of the deepest frame of the trial's own code, if any."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == name]
    return f" (line {lines[-1]})" if lines else ""


def _type_name(exc: BaseException) -> str:
    try:
        return str(type(exc).__name__)
    except BaseException:  # a trial-defined metaclass may misbehave
        return "Exception"


def _safe_str(exc: BaseException) -> str:
    """``str(exc)`` capped; trial-defined ``__str__`` may raise or return something huge."""
    try:
        text = str(exc)
    except BaseException:
        text = "<str() of the exception failed>"
    return text if len(text) <= 2000 else text[:2000] + " ..."


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n else "none"


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the engine dies (kill -9 included), so no worker is orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            if os.getppid() == 1:  # the parent died before we got here
                os._exit(1)
        except OSError:
            pass


def main() -> int:
    _die_with_parent()
    lower_session_group()  # spawned in its own session: keep the runner's nice for the group
    proto_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    # Requests come on a private copy of stdin too: C code that reopens fd 0 (Qhull's "TI"
    # option, say) then finds /dev/null, not the protocol.
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    channel = Channel(proto_fd)
    worker = Worker(channel)
    for line in requests:
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            channel.send({"type": "error", "message": "bad request"})
            continue
        op = msg.get("op")
        try:
            if op == "start":
                channel.send(worker.start(msg))
                worker.after_ready()
            elif op == "run":
                channel.send(worker.run(msg))
            elif op == "close":
                break
            else:
                channel.send({"type": "error", "message": f"unknown op {op!r}"})
        except BaseException as exc:  # the worker must answer, whatever happened
            channel.send({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
