"""What determines one trial: its world, its library, its model's feedback and prompts.

A light module (no simulator, no sandbox, no LLM client), so configs, the skill library and
executors can build and pass specs around. With the backend's own sampling settings, a spec
fixes everything a trial does: that is what makes resume exact and executors comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.trial.prompts import FEEDBACK_MODES, PRIVILEGED_FEEDBACK, PromptSet
from engine.trial.records import Price
from engine.world import WorldSpec

__all__ = ["FEEDBACK_MODES", "LibrarySnapshot", "TrialSpec"]


@dataclass(frozen=True)
class LibrarySnapshot:
    """What a trial gets from the skill library: prompt docs, code to seed, a version id."""

    version: str = ""
    docs: str = ""
    source: str = ""
    seeding: str = "namespace"
    """"namespace": ``source`` executed into the library namespace together; "isolated": each of
    ``parts`` executed on its own and only its functions injected."""
    parts: tuple[str, ...] = ()
    skills: tuple[tuple[str, str], ...] = ()
    """(skill id, name) of each skill, for usage analytics."""


@dataclass(frozen=True)
class TrialSpec:
    """Everything that determines one trial (with the backend's own sampling settings)."""

    trial_id: str
    world: WorldSpec = field(default_factory=WorldSpec)
    condition: str = "P21_a"
    backbone: str = ""
    """The backbone's name in the sweep (empty outside one)."""
    library: LibrarySnapshot = field(default_factory=LibrarySnapshot)
    max_regenerations: int = 10
    block_timeout_s: float = 180.0
    feedback: str = "capx"
    """One of :data:`FEEDBACK_MODES` (see :mod:`engine.trial.loop`)."""
    keep_frames: bool = False
    """Return each block's before/after frames with its record (for people, not the LLM)."""
    prompts: PromptSet = field(default_factory=PromptSet)
    price: Price = field(default_factory=Price)
    vdm_price: Price = field(default_factory=Price)

    @property
    def privileged(self) -> bool:
        """Does the LLM see anything of the simulator's ground truth?"""
        return self.world.privileged_observations or self.feedback in PRIVILEGED_FEEDBACK
