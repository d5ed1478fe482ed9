"""The local executor: trials run in this process's event loop, each with its own sandbox."""

from __future__ import annotations

from engine.config import BackboneConfig, VdmConfig
from engine.executors.backends import BackendCache, BackendFactory, default_backend, vision_backend
from engine.executors.base import BlockSink, EventSink, PlacementSink
from engine.llm.base import Backend
from engine.llm.ratelimit import RequestPacer, paced
from engine.trial.loop import run_trial
from engine.trial.records import TrialRecord
from engine.trial.spec import TrialSpec


class LocalExecutor:
    """Trials run here; backends (and the vision model) are built here, once per need."""

    name = "local"

    def __init__(
        self, vdm: VdmConfig | None = None, backend_factory: BackendFactory = default_backend
    ) -> None:
        self.pacer = RequestPacer()  # one per sweep: backbones' requests-per-minute limits
        self.backends = BackendCache(backend_factory)
        self.vdm_config = vdm
        self._vdm: Backend | None = None

    async def _slot(self, key: str, rpm: float) -> float:
        return self.pacer.acquire(key, rpm)  # 0.0: start now; else ask again after that wait

    async def start(self) -> dict:
        return {"executor": self.name}

    async def run(
        self,
        spec: TrialSpec,
        backbone: BackboneConfig,
        *,
        sink: EventSink,
        on_block: BlockSink,
        on_placed: PlacementSink,
    ) -> TrialRecord:
        backend = self.backends.get(backbone, spec.world.seed)
        backend = paced(backend, backbone.name, backbone.requests_per_minute, self._slot)
        if self._vdm is None and self.vdm_config is not None:
            self._vdm = vision_backend(self.vdm_config)
        return await run_trial(spec, backend, sink=sink, on_block=on_block, vdm=self._vdm)

    async def close(self) -> None:
        return None
