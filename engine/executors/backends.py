"""Backends for trials, built where the trials run (this process, or a Ray node)."""

from __future__ import annotations

from collections.abc import Callable

from engine.config import BackboneConfig, VdmConfig
from engine.llm.base import Backend

BackendFactory = Callable[[BackboneConfig, int], Backend]

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


def default_backend(backbone: BackboneConfig, seed: int) -> Backend:
    """The backend a backbone's config asks for (``seed``: the synthetic coder's)."""
    from engine.llm.factory import make_backend

    return make_backend(
        backbone.backend,
        seed=seed,
        profile=backbone.profile,
        latency_s_per_token=backbone.latency_s_per_token,
        model=backbone.model,
        base_url=backbone.base_url,
        api_key_env=backbone.api_key_env,
        temperature=backbone.temperature,
        max_tokens=backbone.max_tokens,
        timeout_s=backbone.timeout_s,
        max_retries=backbone.max_retries,
        vision=backbone.vision,
        replies=list(backbone.replay_texts),
        delay_s=backbone.latency_s_per_token,
    )


def vision_backend(vdm: VdmConfig | None) -> Backend | None:
    """The sweep's vision model (``[vdm]``), built where the trials run; None without one."""
    if vdm is None:
        return None
    from engine.llm.factory import make_vision_backend

    return make_vision_backend(
        vdm.backend,
        model=vdm.model,
        base_url=vdm.base_url,
        api_key_env=vdm.api_key_env,
        temperature=vdm.temperature,
        max_tokens=vdm.max_tokens,
        timeout_s=vdm.timeout_s,
        max_retries=vdm.max_retries,
    )
