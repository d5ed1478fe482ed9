"""The fork server ("zygote"): sandbox workers that start in milliseconds, each as isolated as
a freshly spawned one.

A fresh interpreter spends most of a second before a trial can run: importing MuJoCo, numpy,
scipy and the engine, compiling the task's scene, loading the GL libraries. The zygote is one
clean process per engine process (the sweep's, or each Ray trial slot's) that has done all of
that once and **never runs trial code**: it only forks. Each trial's worker is a fork of it,
which then does exactly what a spawned worker does (``engine.sandbox.child``): builds its
environment from the cached compiled scene, creates its *own* GL context (a GL context and the
software rasteriser's threads cannot cross a fork, so the zygote only loads the libraries and
never makes one), applies the same limits, installs the same audit hook, serves one trial and
dies with it. So no trial sees another's state: the zygote holds none, and a worker's memory is
its own copy-on-write copy of the zygote's.

The zygote keeps only one thread, so forking it is safe; it reaps its children and tells the
parent each child's pid and exit status (a worker SIGKILLed from outside is still seen as
killed by SIGKILL, hence infrastructure, exactly as with spawn). Workers get the parent's pipes
over the zygote's socket (``SCM_RIGHTS``), die with the zygote (``PR_SET_PDEATHSIG``), which
dies with the parent.

Where fork is unsafe or unavailable (not Linux, a GL backend that talks to a display server,
``AUTOCAPX_WORKER_START=spawn``, a zygote that fails to start) workers are spawned as before,
and a log line says why (:func:`start_mode`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys

from engine.cpu_priority import lower_session_group

log = logging.getLogger(__name__)

MODE_ENV = "AUTOCAPX_WORKER_START"
"""``fork`` (the default where it is safe) or ``spawn`` (a fresh interpreter per worker)."""
FORK_SAFE_GL = ("egl", "osmesa")
"""GL backends whose state is all in this process (no display connection to share)."""
_GL_LIBRARIES = {
    "egl": ("libEGL.so.1", "libEGL_mesa.so.0", "libGL.so.1"),
    "osmesa": ("libOSMesa.so.8",),
}
_MAX_MESSAGE = 65536
_ZYGOTE_START_S = 60.0


def start_mode(env: dict[str, str] | None = None) -> tuple[str, str]:
    """How sandbox workers start here, ``("fork" | "spawn", why)``: from the platform,
    ``AUTOCAPX_WORKER_START`` in this process's environment and ``MUJOCO_GL`` in the workers'
    (``env``, see ``child_environment``)."""
    env = dict(os.environ if env is None else env)
    asked = os.environ.get(MODE_ENV, "").strip().lower()
    if asked not in ("", "fork", "spawn"):
        return "spawn", f"{MODE_ENV}={asked!r} is not fork or spawn"
    if asked == "spawn":
        return "spawn", f"{MODE_ENV}=spawn"
    if not sys.platform.startswith("linux") or not hasattr(socket, "send_fds"):
        return "spawn", "fork server needs Linux (fd passing, PR_SET_PDEATHSIG)"
    gl = env.get("MUJOCO_GL", "egl").strip().lower() or "egl"
    if gl not in FORK_SAFE_GL:
        return "spawn", f"MUJOCO_GL={gl} talks to a display server, which a fork cannot share"
    return "fork", f"fork server (MUJOCO_GL={gl})"


# =========================================================================== the zygote
def _preload(gl: str) -> None:
    """Everything a worker needs that is the same for every trial. No GL context, no thread."""
    import ctypes

    import numpy  # noqa: F401
    import PIL.Image  # noqa: F401
    import PIL.PngImagePlugin  # noqa: F401

    import engine.api.env  # noqa: F401  (the simulator, the robot API, perception, IK)
    import engine.sandbox.child  # noqa: F401
    import engine.sandbox.guards as guards

    for name in ("scipy.spatial.transform", "scipy.optimize", "scipy.linalg"):
        with contextlib.suppress(
            Exception
        ):  # what CaP-X programs import: imports run no trial code
            __import__(name)
    guards.preload_modules()  # cv2
    for lib in _GL_LIBRARIES.get(gl, ()):
        with contextlib.suppress(OSError):
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
    with contextlib.suppress(Exception):  # PyOpenGL's platform module for MUJOCO_GL
        if gl == "egl":
            import mujoco.egl  # noqa: F401
        elif gl == "osmesa":
            import mujoco.osmesa  # noqa: F401


_SCENES: dict[tuple[str, bool, bool], object] = {}
"""Compiled scenes by (task, visual meshes, shadows). In the zygote: never used, never changed.
In a worker: its own copy-on-write copy, handed to the first simulator it builds, then gone."""


def _install_scene_cache() -> None:
    """The simulator's ``build_scene`` looks in :data:`_SCENES` first (compiling a scene is
    deterministic, so a cached one equals a fresh one; each worker takes its copy once)."""
    import engine.sim.simulator as simulator

    real = simulator.build_scene

    def build_scene(task, *, visual_meshes: bool = True, shadows: bool = True):
        scene = _SCENES.pop((task.name, bool(visual_meshes), bool(shadows)), None)
        return (
            scene if scene is not None else real(task, visual_meshes=visual_meshes, shadows=shadows)
        )

    simulator.build_scene = build_scene


_GL_INHERITED = False
"""True once :func:`_probe_gl` found that a worker can go on using a GL context made here."""


def _compile(task_name: str, quality: str, size: int | None = None) -> None:
    """Compile a task's scene (once) and, where GL contexts survive a fork, warm a renderer
    for it at ``size`` (a worker then uploads no mesh and compiles no shader)."""
    from engine.sim.scene import build_scene
    from engine.sim.tasks import get_task

    full = quality == "full"
    key = (task_name, full, full)
    if key not in _SCENES:
        _SCENES[key] = build_scene(get_task(task_name), visual_meshes=full, shadows=full)
    if size and _GL_INHERITED:
        from engine.sim.render import warm_renderer

        warm_renderer(_SCENES[key], int(size))


_PROBE_XML = (
    '<mujoco><visual><global offwidth="64" offheight="64"/></visual><worldbody>'
    '<light pos="0 0 2"/><geom type="box" size=".1 .1 .1"/></worldbody></mujoco>'
)


def _probe_gl() -> str:
    """Can a forked worker keep rendering with a GL context its zygote made? Yes only for a
    software rasteriser that keeps all its state in process memory and runs no thread of its
    own (Mesa's llvmpipe/softpipe with ``LP_NUM_THREADS=0``): a thread or a device the context
    holds would not be a worker's own after the fork. Tried in a throw-away fork, so the zygote
    itself makes a context only once it is known to be safe. Returns why not ("" if it can)."""
    if os.environ.get("LP_NUM_THREADS") != "0":
        return "LP_NUM_THREADS is not 0 (the rasteriser's threads cannot cross a fork)"
    pid = os.fork()
    if pid == 0:
        code = 4
        try:
            import mujoco

            before = _threads()
            model = mujoco.MjModel.from_xml_string(_PROBE_XML)
            renderer = mujoco.Renderer(model, 32, 32)
            data = mujoco.MjData(model)
            mujoco.mj_forward(model, data)
            renderer.update_scene(data)
            renderer.render()
            from OpenGL import GL

            name = (GL.glGetString(GL.GL_RENDERER) or b"").decode(errors="replace")
            software = "llvmpipe" in name or "softpipe" in name
            code = 0 if software and _threads() <= before else (2 if not software else 3)
        except BaseException:  # noqa: BLE001
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return {
        0: "",
        2: "the GL renderer is not Mesa's software rasteriser",
        3: "the GL driver starts threads",
    }.get(code, f"the GL probe failed (status {code})")


def _become_worker(fds: list[int], env: dict[str, str], closing: list) -> None:
    """In the forked child: drop the zygote's role, take the parent's pipes, run the worker."""
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for item in closing:  # the zygote's socket, selector and wake-up pipe
            with contextlib.suppress(Exception):
                item.close() if hasattr(item, "close") else os.close(item)
        os.setsid()  # its own process group: the parent kills the group, as with spawn
        lower_session_group()  # a new session is a new scheduling group: keep the runner's nice
        _name_process(WORKER_NAME)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.update(env)
        if _GL_INHERITED:
            from engine.sandbox.child import GL_INHERITED_ENV

            os.environ[GL_INHERITED_ENV] = "1"
        import random

        import numpy as np

        random.seed()  # a fresh interpreter's randomness, not a copy of the zygote's
        np.random.seed(int.from_bytes(os.urandom(4), "little"))
        from engine.sandbox import child

        code = child.main()
    except BaseException:  # noqa: BLE001 (the worker must never return into the zygote)
        code = 1
    sys.stdout.flush() if sys.stdout else None
    os._exit(code or 0)


WORKER_NAME = "autocapx-worker"
"""A forked worker's process name (``ps -o comm``, ``/proc/PID/comm``): its command line is
the zygote's."""


def _name_process(name: str) -> None:
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def _send(sock: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):
        sock.send(json.dumps(message).encode())


def serve(sock: socket.socket) -> int:
    """The zygote's loop: fork on request, reap children, report their exits."""
    gl = os.environ.get("MUJOCO_GL", "egl")
    from engine.sandbox.child import _die_with_parent

    _die_with_parent()
    _preload(gl)
    _install_scene_cache()
    global _GL_INHERITED
    no_gl = _probe_gl()
    _GL_INHERITED = not no_gl
    base_threads = _threads()
    rd, wake = os.pipe()
    os.set_blocking(rd, False)
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C reaches the engine; it ends us
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(rd, selectors.EVENT_READ)
    ready = {"op": "ready", "pid": os.getpid(), "threads": _threads()}
    _send(sock, {**ready, "gl_inherited": _GL_INHERITED, "gl_note": no_gl})
    while True:
        for key, _ in selector.select():
            if key.fileobj is rd:
                with contextlib.suppress(BlockingIOError):
                    os.read(rd, 4096)
                _reap(sock)
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 3)
            except OSError:
                return 0
            if not data:
                return 0  # the parent is gone
            message = json.loads(data)
            if message.get("op") == "compile":
                for task, quality in message.get("scenes", []):
                    with contextlib.suppress(Exception):
                        _compile(task, quality)
                continue
            if message.get("op") != "fork":
                continue
            scene = message.get("scene")
            if scene:
                with contextlib.suppress(Exception):  # the worker then reports the error itself
                    _compile(*scene)
                if _threads() > base_threads:  # never fork a zygote that grew a thread
                    _send(sock, {"op": "error", "id": message["id"], "message": "threads"})
                    for fd in fds:
                        os.close(fd)
                    continue
            pid = os.fork()
            if pid == 0:
                _become_worker(fds, dict(message.get("env") or {}), [sock, selector, rd, wake])
            for fd in fds:
                os.close(fd)
            _send(sock, {"op": "forked", "id": message["id"], "pid": pid})
        _reap(sock)


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"op": "exit", "pid": pid, "returncode": os.waitstatus_to_exitcode(status)})


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def main() -> int:
    lower_session_group()
    sock = socket.socket(fileno=int(sys.argv[1]))
    try:
        return serve(sock)
    except KeyboardInterrupt:
        return 0


# =========================================================================== the parent's side
def zygote_environment(env: dict[str, str]) -> dict[str, str]:
    """The zygote's environment: the workers' allow-list (``env``) with Mesa's rasteriser kept
    to the calling thread and its shader disk cache off (both start threads, which a fork
    cannot carry), unless the user chose otherwise."""
    out = dict(env)
    out.setdefault("LP_NUM_THREADS", "0")
    out.setdefault("MESA_SHADER_CACHE_DISABLE", "true")
    return out


class ForkedProcess:
    """A worker forked by the zygote, as :class:`asyncio.subprocess.Process` looks to the
    sandbox: pid, pipes, ``returncode`` (as the zygote reaped it), ``wait``, ``kill``."""

    def __init__(self, pid: int, stdin, stdout, stderr, exited: asyncio.Future) -> None:
        self.pid = pid
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self._exited = exited

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)


class ZygoteClient:
    """This process's zygote, on one event loop: starts it, asks it for workers, hears exits."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.loop = asyncio.get_running_loop()
        self.proc: subprocess.Popen | None = None
        """Started with Popen, not asyncio: the zygote may outlive one event loop (tests and
        benches run several), and a loop's child watcher would complain when it ends."""
        self.sock: socket.socket | None = None
        self.pid = 0
        self._next = 0
        self._forks: dict[int, asyncio.Future] = {}
        self._exits: dict[int, asyncio.Future] = {}
        self._ready: asyncio.Future | None = None
        self.gl_inherited = False
        """Workers go on with a GL context made in the zygote (else each makes its own)."""
        self.gl_note = ""

    @property
    def alive(self) -> bool:
        return self.sock is not None and self.proc is not None and self.proc.poll() is None

    async def start(self) -> None:
        from engine.sandbox.worker import _PROJECT_ROOT

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine.sandbox.zygote", str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                env=self.env,
                cwd=_PROJECT_ROOT,
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self._ready = self.loop.create_future()
        self.loop.add_reader(ours.fileno(), self._on_readable)
        try:
            hello = await asyncio.wait_for(asyncio.shield(self._ready), _ZYGOTE_START_S)
        except BaseException:
            self.close()
            raise
        self.pid = int(hello["pid"])
        self.gl_inherited = bool(hello.get("gl_inherited"))
        self.gl_note = str(hello.get("gl_note") or "")

    def _on_readable(self) -> None:
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(_MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            message = json.loads(data)
            op = message.get("op")
            if op == "ready" and self._ready is not None and not self._ready.done():
                self._ready.set_result(message)
            elif op == "forked":
                future = self._forks.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(int(message["pid"]))
            elif op == "error":
                future = self._forks.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_exception(RuntimeError(f"the fork server refused: {message}"))
            elif op == "exit":
                exited = self._exits.pop(int(message["pid"]), None)
                if exited is not None and not exited.done():
                    exited.set_result(int(message["returncode"]))

    def _lost(self) -> None:
        """The zygote is gone: its workers died with it (``PR_SET_PDEATHSIG``: SIGKILL)."""
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.sock.fileno())
        with contextlib.suppress(Exception):
            self.sock.close()
        self.sock = None
        error = RuntimeError("the fork server ended")
        for future in (*self._forks.values(), self._ready):
            if future is not None and not future.done():
                future.set_exception(error)
        self._forks.clear()
        for exited in self._exits.values():
            if not exited.done():
                exited.set_result(-signal.SIGKILL)
        self._exits.clear()

    def compile(self, scenes: list[tuple[str, str]]) -> None:
        """Have the zygote compile these (task, quality) scenes now, ahead of the first fork."""
        if self.alive:
            with contextlib.suppress(OSError):
                self.sock.send(json.dumps({"op": "compile", "scenes": scenes}).encode())

    async def fork(
        self, extra_env: dict[str, str], scene: tuple[str, str] | None, limit: int
    ) -> ForkedProcess:
        """A new worker running ``engine.sandbox.child`` on fresh pipes."""
        if not self.alive:
            raise RuntimeError("the fork server is not running")
        assert self.sock is not None
        loop = self.loop
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self._next += 1
        ident = self._next
        forked = self._forks[ident] = loop.create_future()
        request = {"op": "fork", "id": ident, "env": extra_env, "scene": scene}
        try:
            socket.send_fds(self.sock, [json.dumps(request).encode()], [in_r, out_w, err_w])
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        try:
            pid = await forked
        except BaseException:
            for fd in (in_w, out_r, err_r):
                os.close(fd)
            raise
        exited = self._exits[pid] = loop.create_future()
        stdout = await _reader(loop, out_r, limit)
        stderr = await _reader(loop, err_r, 2**16)
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(in_w, "wb", buffering=0)
        )
        stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        return ForkedProcess(pid, stdin, stdout, stderr, exited)

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.sock.fileno())
            with contextlib.suppress(Exception):
                self.sock.close()
            self.sock = None
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        _ENDED.extend([self.proc] if self.proc is not None else [])
        _reap_ended()


_ENDED: list[subprocess.Popen] = []
"""Zygotes told to end and not yet reaped."""


def _reap_ended() -> None:
    for proc in list(_ENDED):
        if proc.poll() is not None:
            _ENDED.remove(proc)


async def _reader(loop: asyncio.AbstractEventLoop, fd: int, limit: int) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(fd, "rb", buffering=0)
    )
    return reader


_CLIENTS: dict[asyncio.AbstractEventLoop, ZygoteClient] = {}
_FAILED: set[str] = set()
_SAID: set[str] = set()


def _say(why: str, quiet: bool = False) -> None:
    """Say once how workers start: a warning when fork was wanted but is unsafe or failed, an
    info line otherwise."""
    if why not in _SAID:
        _SAID.add(why)
        level = logging.INFO if quiet or not why.startswith("spawn") else logging.WARNING
        log.log(level, "autocapx: sandbox workers start by %s", why)


async def client(env: dict[str, str]) -> ZygoteClient | None:
    """This event loop's zygote (started on first use: trials starting together share the one
    start), or None where workers are spawned."""
    mode, why = start_mode(env)
    if mode != "fork":
        _say(f"spawn: {why}", quiet=os.environ.get(MODE_ENV, "").strip().lower() == "spawn")
        return None
    loop = asyncio.get_running_loop()
    for old in [other for other in _CLIENTS if other.is_closed()]:  # an ended asyncio.run
        _CLIENTS.pop(old).close()
    zygote = _CLIENTS.get(loop)
    if zygote is not None and zygote.alive:
        return zygote
    if zygote is not None:  # it died: its workers with it; a new one for what comes next
        _CLIENTS.pop(loop).close()
    if "start" in _FAILED:
        return None
    starting = _STARTING.get(loop)
    if starting is None:
        starting = _STARTING[loop] = loop.create_task(_start(env, why))
        starting.add_done_callback(lambda _: _STARTING.pop(loop, None))
    return await asyncio.shield(starting)


_STARTING: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


async def _start(env: dict[str, str], why: str) -> ZygoteClient | None:
    zygote = ZygoteClient(zygote_environment(env))
    try:
        await zygote.start()
    except Exception as exc:  # noqa: BLE001
        _FAILED.add("start")
        _say(f"spawn: the fork server did not start ({type(exc).__name__}: {exc})")
        return None
    _CLIENTS[asyncio.get_running_loop()] = zygote
    note = "GL contexts made in the fork server" if zygote.gl_inherited else zygote.gl_note
    _say(f"{why}; {note or 'each worker makes its own GL context'}")
    return zygote


def close_all() -> None:
    """End every zygote of this process (tests, benches; the engine's exit does it anyway)."""
    for zygote in list(_CLIENTS.values()):
        zygote.close()
    _CLIENTS.clear()


async def aclose_all() -> None:
    """:func:`close_all`, then wait for this loop's zygote to be gone."""
    zygote = _CLIENTS.get(asyncio.get_running_loop())
    close_all()
    if zygote is not None and zygote.proc is not None:
        while zygote.proc.poll() is None:
            await asyncio.sleep(0.01)
        _reap_ended()


def zygote_pids() -> list[int]:
    """The pids of this process's live zygotes (benches account for their CPU time)."""
    return [z.proc.pid for z in _CLIENTS.values() if z.proc is not None and z.alive]


if __name__ == "__main__":
    sys.exit(main())
