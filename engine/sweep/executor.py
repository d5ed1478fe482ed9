"""Where a trial runs: in this process (local, the default) or on a Ray cluster.

The sweep runner decides *which* trial runs *when* (concurrency, per-backbone limits, pause,
stop, the skill library's version) and alone writes the session database. An executor only
runs one trial to its end and hands back what happened: events and blocks as they occur, then
the trial's record. If the process running a trial dies, the executor raises
:class:`WorkerLost` and the runner abandons that run and runs the trial again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.errors import UserError
from engine.llm.base import Backend
from engine.llm.ratelimit import RequestPacer, paced
from engine.sweep.config import BackboneConfig, VdmConfig
from engine.trial import events as ev
from engine.trial.loop import TrialSpec, run_trial
from engine.trial.records import BlockRecord, TrialRecord

BackendFactory = Callable[[BackboneConfig, int], Backend]
BlockSink = Callable[[BlockRecord], None]
PlacementSink = Callable[[dict], None]

EXECUTORS = ("local", "ray")


class WorkerLost(Exception):
    """The process running a trial died (node lost, OOM kill, kill -9): run the trial again."""


PER_TRIAL_BACKENDS = ("synthetic", "replay")
"""Backends whose state is the trial's: a fresh one for every trial (a synthetic coder seeded
for the trial, a replay that starts from its first reply)."""


class BackendCache:
    """Backends for trials: a fresh one per trial for :data:`PER_TRIAL_BACKENDS` (so each trial
    is reproducible), one shared object per real backbone (connection pool, retry bookkeeping)."""

    def __init__(self, factory: BackendFactory) -> None:
        self.factory = factory
        self._shared: dict[str, Backend] = {}

    def get(self, backbone: BackboneConfig, seed: int) -> Backend:
        if backbone.backend in PER_TRIAL_BACKENDS:
            return self.factory(backbone, seed)
        if backbone.name not in self._shared:
            self._shared[backbone.name] = self.factory(backbone, seed)
        return self._shared[backbone.name]


class TrialExecutor(Protocol):
    name: str

    async def start(self) -> dict:
        """Get ready (connect to a cluster...); returns a description for the session log."""
        ...

    async def run(
        self,
        spec: TrialSpec,
        backbone: BackboneConfig,
        backend: Backend,
        *,
        sink: ev.EventSink,
        on_block: BlockSink,
        on_placed: PlacementSink,
    ) -> TrialRecord:
        """Run one trial to its end; raises WorkerLost if the process running it died."""
        ...

    async def close(self) -> None: ...


class LocalExecutor:
    """Trials run in this process's event loop, each with its own sandbox worker process."""

    name = "local"

    def __init__(self, vdm: VdmConfig | None = None) -> None:
        self.pacer = RequestPacer()  # one per sweep: backbones' requests-per-minute limits
        self.vdm_config = vdm
        self._vdm: Backend | None = None

    async def _slot(self, key: str, rpm: float) -> float:
        return self.pacer.reserve(key, rpm)

    async def start(self) -> dict:
        return {"executor": self.name}

    async def run(
        self,
        spec: TrialSpec,
        backbone: BackboneConfig,
        backend: Backend,
        *,
        sink: ev.EventSink,
        on_block: BlockSink,
        on_placed: PlacementSink,
    ) -> TrialRecord:
        backend = paced(backend, backbone.name, backbone.requests_per_minute, self._slot)
        if self._vdm is None and self.vdm_config is not None:
            from engine.sweep.runner import vision_backend

            self._vdm = vision_backend(self.vdm_config)
        return await run_trial(spec, backend, sink=sink, on_block=on_block, vdm=self._vdm)

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class ExecutorChoice:
    """``--executor`` and its options; stored with the session so ``resume`` reuses them."""

    kind: str = "local"
    address: str = ""
    """Ray: the cluster to join (``host:port``); empty means RAY_ADDRESS, or a Ray started here."""
    cpus_per_trial: float = 1.0
    """Ray: CPUs reserved per trial slot; below 1 packs more LLM-bound trials per core."""

    def build(
        self,
        backend_factory: BackendFactory,
        backbones: Sequence[BackboneConfig] = (),
        vdm: VdmConfig | None = None,
    ) -> TrialExecutor:
        """The executor itself; Ray is imported only when asked for."""
        self._check_kind()
        if self.kind == "local":
            return LocalExecutor(vdm)
        from engine.sweep.ray_executor import RayExecutor

        return RayExecutor(
            address=self.address,
            cpus_per_trial=self.cpus_per_trial,
            backend_factory=backend_factory,
            backbones=backbones,
            vdm=vdm,
        )

    def _check_kind(self) -> None:
        if self.kind not in EXECUTORS:
            raise UserError(f"unknown executor {self.kind!r} (choose from {', '.join(EXECUTORS)})")

    def preflight(self) -> None:
        """Fail with a one-line error before a session is created if this cannot work."""
        self._check_kind()
        if self.kind == "ray":
            from engine.sweep.ray_executor import preflight

            preflight(self.address)

    @classmethod
    def from_dict(cls, data: dict | None) -> ExecutorChoice:
        data = data or {}
        return cls(
            kind=str(data.get("kind", "local")),
            address=str(data.get("address", "")),
            cpus_per_trial=float(data.get("cpus_per_trial", 1.0)),
        )
