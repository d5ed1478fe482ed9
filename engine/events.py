"""Typed events: one frozen dataclass per kind, a registry, and their JSON encoding.

Everything a session records as it goes (a trial's progress, the runner's state, the skill
library's changes) is one of these. Emitters build the dataclass, the store writes
``(kind, encode(event))`` and the readers give back the dataclass (:func:`decode`), so a field
is named once, here. Decoding never fails: unknown fields are dropped, missing ones take their
defaults, and an unknown kind (a newer autocapx) comes back as :class:`Unknown`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar


@dataclass(frozen=True)
class Event:
    """Base of every event. ``kind`` is the stored name; ``data`` the stored payload."""

    kind: ClassVar[str] = ""

    @property
    def data(self) -> dict[str, Any]:
        """The JSON-able payload as stored (field name -> value)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Event:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


REGISTRY: dict[str, type[Event]] = {}
E = TypeVar("E", bound=type[Event])


def _kind(name: str):
    def register(cls: E) -> E:
        cls.kind = name
        REGISTRY[name] = cls
        return cls

    return register


# --------------------------------------------------------------------------- a trial
@_kind("trial_started")
@dataclass(frozen=True)
class TrialStarted(Event):
    task: str = ""
    seed: int = 0
    condition: str = ""
    backbone: str = ""
    """The backbone's name in the sweep (what arms are grouped by)."""
    backend: str = ""
    """The backend kind (openai, synthetic, replay)."""
    model: str = ""
    synthetic: bool = False
    library_version: str = ""
    feedback: str = ""
    privileged: bool = False


@_kind("llm_delta")
@dataclass(frozen=True)
class LlmDelta(Event):
    """Streamed reply text, coalesced; ``restart``: the stream broke and is asked again."""

    block: int = 0
    text: str = ""
    restart: bool = False


@_kind("llm_retry")
@dataclass(frozen=True)
class LlmRetry(Event):
    block: int = 0
    attempt: int = 0
    reason: str = ""
    status: int | None = None
    wait_s: float | None = None
    at: float = 0.0
    retry_after_s: float | None = None


@_kind("code_ready")
@dataclass(frozen=True)
class CodeReady(Event):
    block: int = 0
    code: str = ""


@_kind("exec_started")
@dataclass(frozen=True)
class ExecStarted(Event):
    block: int = 0


@_kind("stdout")
@dataclass(frozen=True)
class Stdout(Event):
    block: int = 0
    line: str = ""
    stream: str = "stdout"


@_kind("sim_status")
@dataclass(frozen=True)
class SimStatus(Event):
    """The simulator's live status (phase, gripper, cube height, step ...), stored flat."""

    block: int = 0
    status: dict = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        return {"block": self.block, **self.status}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Event:
        rest = dict(data)
        return cls(block=int(rest.pop("block", 0)), status=rest)


@_kind("exec_result")
@dataclass(frozen=True)
class ExecFinished(Event):
    """A block ran: how, and the task's state after it (for the record and the console)."""

    block: int = 0
    ok: bool = False
    success: bool = False
    reward: float = 0.0
    exception: str | None = None
    violation: str | None = None
    killed: str | None = None
    status: dict = field(default_factory=dict)


@_kind("decision")
@dataclass(frozen=True)
class Decision(Event):
    block: int = 0
    decision: str = ""


@_kind("trial_finished")
@dataclass(frozen=True)
class TrialFinished(Event):
    """The trial's summary figures (:meth:`engine.trial.records.TrialRecord.summary`), flat."""

    summary: dict = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.summary)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Event:
        return cls(summary=dict(data))


# --------------------------------------------------------------------------- the runner
@_kind("trial_placed")
@dataclass(frozen=True)
class TrialPlaced(Event):
    """Where a run of a trial runs (a Ray node)."""

    node: str = ""
    host: str = ""
    pid: int = 0
    version: str = ""


@_kind("worker_lost")
@dataclass(frozen=True)
class WorkerLostEvent(Event):
    """The process running a trial died; the run is abandoned and the trial runs again."""

    reason: str = ""
    attempt: int = 0


@_kind("runs_abandoned")
@dataclass(frozen=True)
class RunsAbandoned(Event):
    """Runs a dead runner left 'running', marked abandoned on resume."""

    trial_keys: list = field(default_factory=list)


@_kind("session_state")
@dataclass(frozen=True)
class SessionState(Event):
    status: str = ""
    fields: dict = field(default_factory=dict)


@_kind("command")
@dataclass(frozen=True)
class CommandHandled(Event):
    """The runner consumed a viewer's command, with its result."""

    id: int = 0
    action: str = ""
    result: str = ""


@_kind("executor")
@dataclass(frozen=True)
class ExecutorReady(Event):
    """Where this run of the sweep sends its trials."""

    executor: str = "local"
    address: str = ""
    nodes: int = 0
    cpus: float = 0.0
    cpus_per_trial: float = 1.0


@_kind("sweep_halted")
@dataclass(frozen=True)
class SweepHalted(Event):
    reason: str = ""


@_kind("sweep_ended")
@dataclass(frozen=True)
class SweepEnded(Event):
    status: str = ""
    wall_s: float = 0.0


@_kind("store_waited")
@dataclass(frozen=True)
class StoreWaited(Event):
    """The runner waited this long for another process's lock on the database, then wrote."""

    seconds: float = 0.0


@_kind("history_lost")
@dataclass(frozen=True)
class HistoryLost(Event):
    """A resume accepted a database that had lost commits (its lost trials run again)."""

    had_seq: int = 0
    had_done: int = 0
    seq: int = 0
    done: int = 0


@_kind("budget_reached")
@dataclass(frozen=True)
class BudgetReached(Event):
    """No more trials start in ``scope`` (a backbone, or "session"): its budget is spent.
    ``autocapx resume`` with a raised budget continues."""

    scope: str = ""
    reason: str = ""
    cost_usd: float = 0.0
    tokens: int = 0
    max_cost_usd: float = 0.0
    max_tokens: int = 0


@_kind("budget_changed")
@dataclass(frozen=True)
class BudgetChanged(Event):
    """A resume took the budget from the edited config file (the trials are unchanged)."""

    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)


@_kind("plan_deviation")
@dataclass(frozen=True)
class PlanDeviation(Event):
    """A resume with --force changed the [analysis] plan frozen at the start; the report
    keeps the frozen plan's verdicts and lists this."""

    frozen: dict = field(default_factory=dict)
    now: dict = field(default_factory=dict)


@_kind("arm_settled")
@dataclass(frozen=True)
class ArmSettled(Event):
    """stop_when = "decided": this arm's verdict is settled, it gets no more trials."""

    condition: str = ""
    backbone: str = ""
    round: int = 0
    n: int = 0


# --------------------------------------------------------------------------- the skill library
@_kind("skill_candidate")
@dataclass(frozen=True)
class SkillCandidate(Event):
    """A candidate seen for the first time, with the gates it failed."""

    id: str = ""
    name: str = ""
    status: str = ""
    quality: float = 0.0
    failed: list = field(default_factory=list)


@_kind("gate_result")
@dataclass(frozen=True)
class GateChecked(Event):
    """One gate's verdict on one candidate (every gate, every reason)."""

    skill_id: str = ""
    name: str = ""
    gate: str = ""
    passed: bool = False
    reason: str = ""


@_kind("library_version")
@dataclass(frozen=True)
class LibraryVersion(Event):
    condition: str = ""
    version: str = ""
    skills: list = field(default_factory=list)


@_kind("decision_recorded")
@dataclass(frozen=True)
class DecisionRecorded(Event):
    """A person's approve or veto, as applied by the engine."""

    skill: str = ""
    name: str = ""
    action: str = ""
    who: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Unknown(Event):
    """A stored kind this autocapx does not know (written by a newer one)."""

    name: str = ""
    payload: dict = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.payload)


def encode(event: Event) -> tuple[str, dict[str, Any]]:
    """(kind, payload) as the store keeps them."""
    if isinstance(event, Unknown):
        return event.name, dict(event.payload)
    return event.kind, event.data


def decode(kind: str, data: dict[str, Any]) -> Event:
    """The event a stored (kind, payload) stands for; never raises."""
    cls = REGISTRY.get(kind)
    if cls is None:
        return Unknown(name=kind, payload=dict(data))
    try:
        return cls.from_data(data)
    except (TypeError, ValueError):
        return Unknown(name=kind, payload=dict(data))


LIBRARY_KINDS = (SkillCandidate.kind, GateChecked.kind, LibraryVersion.kind, DecisionRecorded.kind)
"""Kinds that change what the library pane shows."""
