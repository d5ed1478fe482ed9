"""What one block did in the sandbox: the one execution result, from the worker to the record.

The worker's reply becomes an :class:`ExecResult`; the trial's block runner adds what the
restart after a kill changed; the trial's :class:`~engine.trial.records.BlockRecord` holds it.
A light module (plain data), so records and stores need not import the worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExecResult:
    """``ok`` is False on an exception, a policy violation or a kill."""

    ok: bool
    stdout: str = ""
    stderr: str = ""
    exception: str | None = None
    violation: str | None = None
    killed: str | None = None
    exec_time_s: float = 0.0
    """Time the code ran in the worker (the wall time of the block if it was killed)."""
    wall_time_s: float = 0.0
    status: dict = field(default_factory=dict)
    """The environment's live status after the block (phase, step, steps_left ...)."""
    summary: dict = field(default_factory=dict)
    """The simulator's state after the block (success, reward, objects): ground truth for the
    record, shown to the LLM only in the labelled privileged feedback mode."""
    frames: dict[str, bytes] = field(default_factory=dict, repr=False)
    """PNG frames ("before", "after") when asked for; not kept in records."""
    skill_calls: dict[str, list[int]] = field(default_factory=dict)
    """Library skill -> [calls, calls that raised], counted at run time by the worker."""
    api_calls: dict[str, int] = field(default_factory=dict)
    """API function -> calls during the block (skills' own API calls included)."""
    reset_note: str = ""
    """Set when the block got its worker killed: the scene was reset and variables were lost."""

    @property
    def success(self) -> bool:
        return bool(self.summary.get("success"))

    @property
    def reward(self) -> float:
        return float(self.summary.get("reward", 0.0))
