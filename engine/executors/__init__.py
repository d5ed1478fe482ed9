"""Executors: where a sweep's trials run (this process, or a Ray cluster).

A small package: :mod:`.base` (the protocol, no outgoing imports), :mod:`.local`, :mod:`.ray`
(Ray is imported only when asked for), and this registry. :class:`ExecutorChoice` is what the
user chose (``--executor``); it is stored with the session so ``resume`` reuses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.config import BackboneConfig, VdmConfig
from engine.errors import UserError
from engine.executors.base import TrialExecutor, WorkerLost

__all__ = ["EXECUTORS", "ExecutorChoice", "TrialExecutor", "WorkerLost"]

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class ExecutorChoice:
    """``--executor`` and its options; stored with the session so ``resume`` reuses them."""

    kind: str = "local"
    address: str = ""
    """Ray: the cluster to join (``host:port``); empty means RAY_ADDRESS, or a Ray started here."""
    cpus_per_trial: float = 1.0
    """Ray: CPUs reserved per trial slot; below 1 packs more LLM-bound trials per core."""

    def build(
        self, backbones: Sequence[BackboneConfig] = (), vdm: VdmConfig | None = None
    ) -> TrialExecutor:
        """The executor itself."""
        self._check_kind()
        if self.kind == "local":
            from engine.executors.local import LocalExecutor

            return LocalExecutor(vdm)
        from engine.executors.ray import RayExecutor

        return RayExecutor(
            address=self.address,
            cpus_per_trial=self.cpus_per_trial,
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
            from engine.executors.ray import preflight

            preflight(self.address)

    @classmethod
    def from_dict(cls, data: dict | None) -> ExecutorChoice:
        data = data or {}
        return cls(
            kind=str(data.get("kind", "local")),
            address=str(data.get("address", "")),
            cpus_per_trial=float(data.get("cpus_per_trial", 1.0)),
        )
