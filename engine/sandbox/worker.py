"""Parent side of the sandbox: start a worker process, run blocks in it, survive anything.

One :class:`SandboxWorker` per trial. Blocks run in order in the same worker, so variables
persist across the blocks of a trial. A block that exceeds its wall-clock limit gets the whole
worker (its process group) killed; so does a worker that dies on its own (CPU limit, crash).
The block is then reported as killed with the reason, and :meth:`SandboxWorker.restart` gives
the trial a fresh worker with a freshly built environment (its state is lost, which the caller
tells the LLM).

A worker killed from outside the trial is another matter: the host's OOM killer or an operator's
``kill -9`` says nothing about the trial's code, so it must not become the trial's result. The
parent knows when it ended the worker itself (the wall clock, a bad reply), and the worker's own
limits end it in ways of their own (CPU: exit status ``CPU_LIMIT_EXIT``, ``SIGPROF`` or
``SIGXCPU``; memory: a ``MemoryError`` the block gets back; file size: ``SIGXFSZ``), while trial
code cannot send signals at all (the audit hook refuses ``os.kill``). A worker that died of one
of :data:`EXTERNAL_SIGNALS` that the parent did not send raises :class:`SandboxWorkerLost`, a
:class:`~engine.errors.WorkerLost`: the sweep abandons the run and runs the trial again, as it
does when a Ray node is lost.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from engine.errors import WorkerLost
from engine.sandbox.guards import CPU_LIMIT_EXIT
from engine.sandbox.result import ExecResult
from engine.world import CAMERA_SIZE, ENV_FACTORY

DEFAULT_MEMORY_BYTES = 6 * 2**30
"""Address-space cap per worker. MuJoCo's software GL reserves a lot of virtual memory."""
START_TIMEOUT_S = 120.0
EXIT_WAIT_S = 5.0
"""How long a worker that stopped answering gets to exit before the parent kills it."""
_LINE_LIMIT = 64 * 2**20

OnEvent = Callable[[dict], None]


class SandboxError(Exception):
    """The worker could not be started or the environment could not be built."""


class SandboxWorkerLost(WorkerLost):
    """The trial's sandbox worker was killed from outside the trial (the OOM killer, an operator,
    the system): infrastructure, not the trial's doing. Not a :class:`SandboxError`, so the trial
    loop does not record it as the trial's end: it propagates to the sweep, which runs the trial
    again. One message argument only (it crosses processes under Ray)."""


EXTERNAL_SIGNALS = frozenset(
    {signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT}
)
"""Signals a worker dies of only when something outside its trial sends them (the parent's own
kills are known to it). The worker's limits end it otherwise, and its code sends no signals."""


_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
"""The directory holding the ``engine`` package: the worker's working directory, so that
``-m engine.sandbox.child`` resolves whatever the caller's working directory is."""

_PASS_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XDG_RUNTIME_DIR",
    "XDG_CACHE_HOME",
    "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES",
    "PYTHONHASHSEED",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)
_PASS_ENV_PREFIXES = (
    "MUJOCO_",
    "PYOPENGL_",
    "EGL_",
    "MESA_",
    "LIBGL_",
    "GALLIUM_",
    "__EGL_",
    "__GLX_",
)


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: an allow-list of the caller's (display, GL, locale, threads),
    never the rest. API keys live in the environment under names the sweep config chooses, and
    anything in a worker's environment is one escape away from the LLM's eyes."""
    env = {
        k: v for k, v in os.environ.items() if k in _PASS_ENV or k.startswith(_PASS_ENV_PREFIXES)
    }
    env.setdefault("MUJOCO_GL", "egl")
    env.setdefault("PATH", os.defpath)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = _PROJECT_ROOT
    env.update(extra or {})
    return env


def cpu_limit_reason(budget_s: float | None) -> str:
    """The reason of a block ended at its CPU-time limit."""
    return (
        "CPU time limit exceeded"
        if budget_s is None
        else f"CPU time limit of {budget_s:g} s exceeded"
    )


def _signal_reason(returncode: int | None, cpu_budget_s: float | None = None) -> str:
    if returncode is None:
        return "the worker stopped answering"
    if returncode == CPU_LIMIT_EXIT:  # the watchdog ended it but its last message was lost
        return cpu_limit_reason(cpu_budget_s)
    if returncode < 0:
        sig = -returncode
        if sig in (signal.SIGPROF, signal.SIGXCPU):  # the kernel's CPU timer, RLIMIT_CPU
            return cpu_limit_reason(cpu_budget_s)
        names = {
            signal.SIGKILL: "killed (out of memory or by the system)",
            signal.SIGSEGV: "the worker crashed (segmentation fault)",
            signal.SIGXFSZ: "file size limit exceeded",
            signal.SIGABRT: "the worker aborted",
        }
        return names.get(sig, f"the worker died with signal {signal.Signals(sig).name}")
    return f"the worker exited with status {returncode}"


class SandboxWorker:
    """A sandboxed process owning one environment built by ``factory(**kwargs)``."""

    def __init__(
        self,
        factory: str,
        kwargs: dict | None = None,
        *,
        seed_code: str = "",
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        recursion_limit: int = 2000,
    ) -> None:
        self.factory = factory
        self.kwargs = dict(kwargs or {})
        self.seed_code = seed_code
        self.seed_parts: list[str] = []
        """Alternative to seed_code: sources executed one by one in namespaces of their own,
        only their functions injected (the naive way, kept to demonstrate namespace seeding)."""
        self.memory_bytes = memory_bytes
        self.recursion_limit = recursion_limit
        self.static_policy = True
        """False skips the AST check so that tests can show the run-time guards hold on their
        own. Never turn it off for real trials: the check is what gives the LLM a clear reason."""
        self.frames = False
        """Render the scene once it is built: the PNG lands in :attr:`initial_frame`."""
        self.initial_frame: bytes | None = None
        self.extra_env: dict[str, str] = {}
        """Extra environment variables for the worker (it gets no others but an allow-list)."""
        self.proc: asyncio.subprocess.Process | None = None
        self.ended_by_parent = False
        """True once this object has killed the current process (wall clock, bad reply, close):
        its death is then no mystery. A death by an external signal without it is a loss."""
        self.block_cpu_s: float | None = None
        """CPU seconds the last block used, as the worker measured it (None: not measured,
        e.g. the kernel's backstop ended it, or it never ran)."""
        self.startup_s = 0.0
        self.use_fork_server = True
        """Start the worker as a fork of this process's zygote where that is safe (else, or
        when False, as a fresh interpreter); either way it runs ``engine.sandbox.child``."""
        self.start_mode = ""
        """How the current process was started: "fork" or "spawn"."""
        self.deferred_start_s = 0.0
        """Seconds of start-up a forked worker did after saying ready (its first frame), as
        it reported with the next block: start work, not the block's."""
        self.start_phases: dict[str, float] = {}
        """Seconds of the last start by phase (fork; the worker's environment, first frame,
        guards and library), as measured on each side."""
        self.initial: dict = {}
        self._stderr_tail = b""
        self._stderr_task: asyncio.Task | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> dict:
        """Start the process and build the environment; returns its initial status/summary."""
        t0 = time.perf_counter()
        self.ended_by_parent = False
        self.start_phases = {}
        self.proc = await self._fork() if self.use_fork_server else None
        if self.proc is None:
            self.start_mode = "spawn"
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "engine.sandbox.child",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=_LINE_LIMIT,
                env=child_environment(self.extra_env),
                cwd=_PROJECT_ROOT,
            )
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        request = {
            "op": "start",
            "factory": self.factory,
            "kwargs": self.kwargs,
            "seed_code": self.seed_code,
            "seed_parts": self.seed_parts,
            "static_policy": self.static_policy,
            "memory_bytes": self.memory_bytes,
            "recursion_limit": self.recursion_limit,
            "frames": self.frames,
        }
        try:
            await self._send(request)
            reply = await asyncio.wait_for(self._receive_final(None), START_TIMEOUT_S)
        except TimeoutError:
            await self.kill()
            raise SandboxError("the sandbox worker did not start in time") from None
        except (BrokenPipeError, ConnectionResetError):
            reply = None
        if reply is None:
            reason = await self._ended()  # raises SandboxWorkerLost if killed from outside
            tail = self._stderr_tail.decode(errors="replace").strip().splitlines()
            detail = tail[-1] if tail else reason
            raise SandboxError(f"the sandbox worker died while starting: {detail}")
        if reply.get("type") == "error":
            await self.kill()
            raise SandboxError(reply["message"])
        self.startup_s = time.perf_counter() - t0
        self.start_phases.update(reply.get("phases") or {})
        self.initial = reply
        if reply.get("frame"):
            self.initial_frame = base64.b64decode(reply["frame"])
        return reply

    async def _fork(self):
        """A worker forked by this process's zygote, or None where workers are spawned (see
        :mod:`engine.sandbox.zygote`). The worker's environment is the zygote's (the same
        allow-list) plus :attr:`extra_env`."""
        from engine.sandbox import zygote

        server = await zygote.client(child_environment())
        if server is None:
            return None
        scene = None
        if self.factory == ENV_FACTORY:
            scene = (
                str(self.kwargs.get("task", "cube_lift")),
                str(self.kwargs.get("quality", "full")),
                int(self.kwargs.get("camera_size") or CAMERA_SIZE),
            )
        t0 = time.perf_counter()
        try:
            proc = await server.fork(dict(self.extra_env), scene, _LINE_LIMIT)
        except (OSError, RuntimeError) as exc:  # the zygote just died: spawn this one
            logging.getLogger(__name__).warning("autocapx: fork server failed (%s); spawning", exc)
            return None
        self.start_mode = "fork"
        self.start_phases["fork"] = time.perf_counter() - t0
        return proc

    async def _ended(self, cpu_budget_s: float | None = None) -> str:
        """The worker stopped answering: wait for it to exit (killing it if it lingers) and say
        why it ended. Raises :class:`SandboxWorkerLost` if something outside the trial killed it."""
        assert self.proc is not None
        if self.proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), EXIT_WAIT_S)
        await self.kill()  # it has exited by now, unless it lingered
        self._raise_if_lost()
        if self.ended_by_parent and self.proc.returncode == -signal.SIGKILL:
            return "the worker stopped answering and was stopped"
        return _signal_reason(self.proc.returncode, cpu_budget_s)

    def _raise_if_lost(self) -> None:
        """The process has exited: if of a signal from outside the trial, the run is lost."""
        assert self.proc is not None
        code = self.proc.returncode
        if self.ended_by_parent or code is None or code >= 0 or -code not in EXTERNAL_SIGNALS:
            return
        name = signal.Signals(-code).name
        raise SandboxWorkerLost(
            f"the sandbox worker (pid {self.proc.pid}) was killed by {name} from outside the "
            "trial (the OOM killer, an operator or the system)"
        )

    async def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self._stderr_tail = (self._stderr_tail + chunk)[-8192:]

    async def _send(self, message: dict) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()

    async def _receive_final(self, on_event: OnEvent | None) -> dict | None:
        """Read messages until a final one (ready/result/error); None if the worker died."""
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                await self.proc.wait()
                return None
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if message.get("type") in ("stdout", "status"):
                if on_event is not None:
                    try:
                        on_event(message)
                    except Exception:  # a broken listener must not break the block
                        logging.getLogger(__name__).exception("sandbox event listener failed")
                continue
            return message

    async def run_block(
        self,
        code: str,
        *,
        name: str = "<block>",
        timeout_s: float = 180.0,
        frames: bool = False,
        on_event: OnEvent | None = None,
        cpu_s: float | None = None,
    ) -> ExecResult:
        """Run one block; stdout lines and status dicts reach ``on_event`` as they happen.

        ``timeout_s`` is wall-clock time (overrun: the worker is killed); ``cpu_s`` is CPU time
        (default ``timeout_s + 5``, so it only matters for multi-threaded code unless set lower;
        overrun: the worker's CPU watchdog ends it and says how much CPU the block used, see
        :class:`~engine.sandbox.guards.CpuWatchdog`). Either way ``killed`` says why and
        :meth:`restart` gives a fresh worker. Nothing the code does makes this raise; a worker
        killed from outside the trial raises :class:`SandboxWorkerLost` (before this block, or
        while it runs)."""
        self.block_cpu_s = None
        if not self.alive:
            if self.proc is not None:
                self._raise_if_lost()  # killed from outside while the LLM was writing
            return ExecResult(ok=False, killed="the worker is not running")
        budget_s = float(cpu_s) if cpu_s is not None else timeout_s + 5
        t0 = time.perf_counter()
        lines: list[str] = []

        def collect(message: dict) -> None:
            if message.get("type") == "stdout" and message.get("stream", "stdout") == "stdout":
                lines.append(message["line"])
            if on_event is not None:
                on_event(message)

        try:
            request = {"op": "run", "code": code, "name": name, "timeout_s": timeout_s}
            await self._send({**request, "frames": frames, "cpu_s": budget_s})
            reply = await asyncio.wait_for(self._receive_final(collect), timeout_s)
        except TimeoutError:
            await self.kill()
            return ExecResult(
                ok=False,
                stdout="\n".join(lines),
                stderr=f"TimeoutError: the block ran longer than {timeout_s:g} s and was stopped\n",
                killed=f"wall-clock limit of {timeout_s:g} s exceeded",
                wall_time_s=time.perf_counter() - t0,
            )
        except (BrokenPipeError, ConnectionResetError):
            reply = None
        if reply is None or reply.get("type") != "result":
            if reply is not None and reply.get("type") == "limit":  # its CPU watchdog ended it
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.proc.wait(), EXIT_WAIT_S)
                await self.kill()
                self.block_cpu_s = float(reply["used_s"])
                reason = cpu_limit_reason(budget_s)
                stderr = (
                    f"CPUTimeLimitExceeded: the block used {self.block_cpu_s:.2f} s of CPU time "
                    f"(its limit: {budget_s:g} s) and was stopped\n"
                )
            elif reply is None:
                reason = await self._ended(budget_s)  # raises if killed from outside the trial
                stderr = f"WorkerDied: {reason}\n"
                if reason == cpu_limit_reason(budget_s):  # the kernel's backstop ended it
                    stderr = (
                        "CPUTimeLimitExceeded: the block used more than its CPU time limit "
                        f"({budget_s:g} s) and was stopped\n"
                    )
            else:  # the worker itself failed: its state is suspect, so it goes like a crash
                reason = reply.get("message", "the worker answered nonsense")
                await self.kill()
                stderr = f"WorkerDied: {reason}\n"
            return ExecResult(
                ok=False,
                stdout="\n".join(lines),
                stderr=stderr,
                killed=reason,
                wall_time_s=time.perf_counter() - t0,
            )
        self.block_cpu_s = float(reply.get("cpu_s", 0.0))
        self.deferred_start_s += float(reply.get("after_ready_s") or 0.0)
        return ExecResult(
            ok=bool(reply["ok"]),
            stdout=reply["stdout"],
            stderr=reply["stderr"],
            exception=reply.get("exception"),
            violation=reply.get("violation"),
            exec_time_s=float(reply.get("exec_time_s", 0.0)),
            wall_time_s=time.perf_counter() - t0,
            status=reply.get("status", {}),
            summary=reply.get("summary", {}),
            frames={k: base64.b64decode(v) for k, v in (reply.get("frames") or {}).items()},
            skill_calls=reply.get("skill_calls") or {},
            api_calls=reply.get("api_calls") or {},
        )

    async def restart(self) -> dict:
        """A fresh worker with a freshly built environment (the old state is gone)."""
        await self.kill()
        return await self.start()

    async def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.ended_by_parent = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()
        if self._stderr_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._stderr_task, 1.0)

    async def close(self) -> None:
        """End the worker. It holds nothing worth flushing, so it is killed rather than asked
        to exit: an interpreter tearing down MuJoCo and its GL context takes longer."""
        await self.kill()

    async def __aenter__(self) -> SandboxWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
