"""Trials on a Ray cluster, with the head process still the only writer of the session.

Each trial slot is a Ray actor (:class:`TrialActor`) that runs the ordinary trial loop, so the
LLM calls and the sandboxed simulator worker of a trial live on whichever node Ray placed the
actor. The actor streams back what the trial does (events and finished blocks, in order, in
small batches) through a Ray streaming generator; the head writes them to SQLite as they
arrive. Ray's own retries are off: if an actor's process or node dies, the head sees it as
:class:`~engine.executors.base.WorkerLost`, abandons that run and runs the trial again from its
start, so a trial is never counted twice and never half-counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from engine import __version__
from engine.config import BackboneConfig, VdmConfig
from engine.errors import UserError
from engine.executors.backends import BackendCache, default_backend, vision_backend
from engine.executors.base import BlockSink, EventSink, PlacementSink, WorkerLost
from engine.llm.ratelimit import RequestPacer, paced
from engine.trial.loop import run_trial
from engine.trial.records import TrialRecord
from engine.trial.spec import TrialSpec

RAY_MISSING = "the ray executor needs Ray on this machine: pip install 'autocapx[ray]'"
FORWARDED_ENV = ("MUJOCO_GL", "PYOPENGL_PLATFORM", "AUTOCAPX_WORKER_START")
"""Rendering settings and how sandbox workers start (``engine.sandbox.zygote``) that the head
passes on, so workers render and start the way the head's would. Each trial slot (actor) has
its own fork server, started with its first trial and reused by the trials after it."""
PLACEMENT_WARN_S = 30.0
"""Say so when Ray has not found room for a trial slot for this long."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(RAY_MISSING) from None
    return ray


class PacerActor:
    """The sweep's one request pacer, on the head node: every trial on every node asks it
    whether its backbone's next request may start now, so a requests-per-minute limit holds
    cluster-wide. A start is granted (and recorded) at the moment it is asked for; a trial told
    to wait asks again afterwards (see :class:`~engine.llm.ratelimit.RequestPacer`)."""

    def __init__(self) -> None:
        self.pacer = RequestPacer()

    def acquire(self, key: str, rpm: float) -> float:
        return self.pacer.acquire(key, rpm)


class TrialActor:
    """One trial slot on some node of the cluster: runs trials one after another."""

    def __init__(self, pacer: Any = None, vdm: VdmConfig | None = None) -> None:
        self.backends = BackendCache(default_backend)
        self.pacer = pacer
        self.vdm = vision_backend(vdm)  # built on this node, like the coder's backend

    async def _slot(self, key: str, rpm: float) -> float:
        return await self.pacer.acquire.remote(key, rpm)

    def where(self) -> dict:
        import ray

        return {
            "node": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": __version__,
        }

    async def run(self, spec: TrialSpec, backbone: BackboneConfig) -> AsyncIterator[list]:
        """Run one trial; yields batches of ("event", kind, data) / ("block", BlockRecord)
        items as they happen, and finally [("record", TrialRecord)]."""
        backend = self.backends.get(backbone, spec.world.seed)
        if self.pacer is not None:  # the head made one: some backbone has a request limit
            backend = paced(backend, backbone.name, backbone.requests_per_minute, self._slot)
        queue: asyncio.Queue = asyncio.Queue()
        trial = asyncio.create_task(
            run_trial(
                spec,
                backend,
                sink=lambda e: queue.put_nowait(("event", e)),
                on_block=lambda b: queue.put_nowait(("block", b)),
                vdm=self.vdm,
            )
        )
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, trial}, return_when=asyncio.FIRST_COMPLETED)
                batch = [getter.result()] if getter.done() else []
                if not getter.done():
                    getter.cancel()
                while not queue.empty():
                    batch.append(queue.get_nowait())
                if batch:
                    yield batch
                if trial.done() and queue.empty():
                    break
        finally:
            if not trial.done():
                trial.cancel()
                with contextlib.suppress(BaseException):
                    await trial
        yield [("record", trial.result())]


class RayExecutor:
    """Runs trials as Ray actors; connects to ``address`` (or RAY_ADDRESS, or starts Ray here)."""

    name = "ray"

    def __init__(
        self,
        *,
        address: str = "",
        cpus_per_trial: float = 1.0,
        backbones: Sequence[BackboneConfig] = (),
        vdm: VdmConfig | None = None,
    ) -> None:
        self.address = address
        self.vdm = vdm
        self.cpus_per_trial = cpus_per_trial
        self.forward_env = _api_keys(backbones, vdm)
        self.rate_limited = any(b.requests_per_minute > 0 for b in backbones)
        self._pacer: Any = None
        self._warned = False
        self._ray: Any = None
        self._actor_cls: Any = None
        self._idle: list[tuple[Any, dict]] = []
        self._waiters: list[asyncio.Future] = []

    async def start(self) -> dict:
        ray = self._ray = import_ray()
        env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
        env.update(self.forward_env)
        kwargs: dict[str, Any] = {
            "address": self.address or None,
            "namespace": "autocapx",
            "log_to_driver": False,
            "logging_level": logging.WARNING,
            "configure_logging": True,
            "runtime_env": {"env_vars": env} if env else None,
        }
        target = self.address or os.environ.get("RAY_ADDRESS", "")
        if not target:
            kwargs["include_dashboard"] = False  # starting a one-machine Ray here
        where = target or "a new local Ray instance"
        _check_reachable(target)
        try:
            ray.init(**kwargs)
        except Exception as exc:  # ray raises ConnectionError, RuntimeError, ValueError...
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"cannot start or reach Ray at {where}: {first}") from None
        self._actor_cls = ray.remote(TrialActor).options(
            num_cpus=self.cpus_per_trial,
            max_restarts=0,
            max_task_retries=0,
            scheduling_strategy="SPREAD",
        )
        if self.rate_limited:  # on the head's node: it lives and dies with the sweep
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            here = ray.get_runtime_context().get_node_id()
            self._pacer = (
                ray.remote(PacerActor)
                .options(
                    num_cpus=0,
                    scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
                )
                .remote()
            )
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return {
            "executor": self.name,
            "address": where,
            "nodes": len(nodes),
            "cpus": ray.cluster_resources().get("CPU", 0.0),
            "cpus_per_trial": self.cpus_per_trial,
        }

    async def _acquire(self) -> tuple[Any, dict]:
        """A trial slot: an idle actor, else a new one, or whichever actor a finishing trial
        hands over first (a new actor may wait for CPUs that idle actors hold, e.g. after a
        node is lost, so waiting for the new one alone could wait forever)."""
        if self._idle:
            return self._idle.pop()
        actor = self._actor_cls.remote(self._pacer, self.vdm)
        placed = asyncio.ensure_future(actor.where.remote())
        handoff: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiters.append(handoff)
        try:
            while not (placed.done() or handoff.done()):
                await asyncio.wait(
                    {placed, handoff}, timeout=PLACEMENT_WARN_S, return_when=asyncio.FIRST_COMPLETED
                )
                if not (placed.done() or handoff.done()):
                    self._warn_unplaced()
            if handoff.done():
                self._discard(actor)
                placed.cancel()
                return handoff.result()
            where = placed.result()
        except self._ray.exceptions.RayError as exc:
            self._discard(actor)
            raise WorkerLost(_short(exc)) from None
        except BaseException:  # stopped while waiting: leave nothing pending or unused
            placed.cancel()
            self._discard(actor)
            if handoff.done() and not handoff.cancelled():
                self._release(*handoff.result())
            raise
        finally:
            if handoff in self._waiters:
                self._waiters.remove(handoff)
        if where["version"] != __version__:  # counted as a lost worker: halts if it persists
            self._discard(actor)
            raise WorkerLost(
                f"node {where['host']} runs autocapx {where['version']}, the head runs "
                f"{__version__}: install the same version on every node"
            )
        return actor, where

    def _release(self, actor: Any, where: dict) -> None:
        """A trial slot is free: to the first trial waiting for one, else to the idle pool."""
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result((actor, where))
                return
        self._idle.append((actor, where))

    def _discard(self, actor: Any) -> None:
        with contextlib.suppress(Exception):
            self._ray.kill(actor, no_restart=True)

    def _warn_unplaced(self) -> None:
        if self._warned:
            return
        self._warned = True
        free = self._ray.available_resources().get("CPU", 0.0)
        print(
            f"autocapx: Ray has not placed a trial slot for {PLACEMENT_WARN_S:.0f} s: each needs "
            f"{self.cpus_per_trial:g} CPU and the cluster has {free:g} free; lower "
            "--cpus-per-trial or the sweep's concurrency, or add nodes (still waiting)",
            file=sys.stderr,
            flush=True,
        )

    async def run(
        self,
        spec: TrialSpec,
        backbone: BackboneConfig,
        *,
        sink: EventSink,
        on_block: BlockSink,
        on_placed: PlacementSink,
    ) -> TrialRecord:
        ray = self._ray
        actor, where = await self._acquire()
        on_placed(dict(where))
        finished = False
        record: TrialRecord | None = None
        try:
            async for ref in actor.run.remote(spec, backbone):
                for item in await ref:
                    if item[0] == "event":
                        sink(item[1])
                    elif item[0] == "block":
                        on_block(item[1])
                    else:
                        record = item[1]
            finished = record is not None
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, WorkerLost):  # the trial's sandbox was killed from outside
                raise WorkerLost(f"{exc.cause} (on {where['host']})") from None
            raise exc.as_instanceof_cause() from None  # the trial loop raised: a bug, not a loss
        except ray.exceptions.RayError as exc:  # actor process or its node died
            raise WorkerLost(f"{_short(exc)} (pid {where['pid']} on {where['host']})") from None
        finally:
            if finished:
                self._release(actor, where)
            else:  # lost, failed or cancelled (stop): never reuse a slot in an unknown state
                self._discard(actor)
        if record is None:
            raise WorkerLost(f"the trial's stream ended without a record (pid {where['pid']})")
        return record

    async def close(self) -> None:
        if self._ray is None:
            return
        for actor, _ in self._idle:
            self._discard(actor)
        self._idle.clear()
        if self._pacer is not None:
            self._discard(self._pacer)
        with contextlib.suppress(Exception):
            self._ray.shutdown()


def preflight(address: str) -> None:
    """Ray is installed and the cluster answers: checked before a session is created."""
    import_ray()
    _check_reachable(address or os.environ.get("RAY_ADDRESS", ""))


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a cluster address nothing listens at (ray.init would retry for minutes)."""
    if address.startswith("ray://"):
        raise UserError(
            "Ray Client addresses (ray://) are not supported: run autocapx on a node of the "
            "cluster and pass the cluster's GCS address, e.g. --address 10.0.0.1:6379"
        )
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local" or another form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise UserError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
            f"`ray start --head` or check --address"
        ) from None


def _api_keys(backbones: Sequence[BackboneConfig], vdm: VdmConfig | None = None) -> dict[str, str]:
    """API keys of the sweep's real backbones (and vision model), passed to the workers in the
    job's runtime environment (never in configs, the store or the actors' arguments)."""
    keys = {}
    if os.environ.get("OPENAI_BASE_URL"):  # the openai backend's fallback endpoint
        keys["OPENAI_BASE_URL"] = os.environ["OPENAI_BASE_URL"]
    users = [(b.backend, b.api_key_env) for b in backbones]
    if vdm is not None:
        users.append((vdm.backend, vdm.api_key_env))
    for backend, name in users:
        if backend != "synthetic" and name and os.environ.get(name):
            keys[name] = os.environ[name]
    return keys


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
