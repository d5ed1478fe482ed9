"""Plain records of what happened in a trial, one per turn and one per trial."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from engine.sandbox.result import ExecResult


@dataclass
class BlockRecord:
    """One LLM turn and, unless it was FINISH, the code block it produced and how that ran.

    ``decision`` is "initial" for the first block, "regenerate" for later ones and "finish" for
    the closing turn. ``result`` is the sandbox's :class:`~engine.sandbox.result.ExecResult`
    (None: nothing ran); the properties below read it, so a block's outcome has one source.
    """

    index: int
    decision: str
    prompt: str
    reply: str
    reasoning: str | None = None
    code: str = ""
    result: ExecResult | None = None
    feedback: str = ""
    """What the feedback mode added to the next prompt beyond code, stdout and stderr: the
    vision model's description (``vdm``) or the PRIVILEGED scene diff; empty in ``capx``."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_latency_s: float = 0.0
    llm_retries: list[dict] = field(default_factory=list)
    served_model: str = ""
    """The model the server says answered this turn (it may differ from the one asked for)."""
    system_fingerprint: str = ""
    served_extra: dict = field(default_factory=dict)
    wall_time_s: float = 0.0
    vdm_prompt_tokens: int = 0
    """Tokens of the vision model's calls made for this block's feedback (``vdm`` mode)."""
    vdm_completion_tokens: int = 0
    vdm_latency_s: float = 0.0
    frames: dict[str, bytes] = field(default_factory=dict, repr=False)
    """PNG frames ("before", "after") when the session keeps them ([session] keep_frames);
    the store writes them as files, never into the database."""

    @property
    def executed(self) -> bool:
        return self.result is not None

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok

    @property
    def stdout(self) -> str:
        return self.result.stdout if self.result else ""

    @property
    def stderr(self) -> str:
        return self.result.stderr if self.result else ""

    @property
    def exception(self) -> str | None:
        return self.result.exception if self.result else None

    @property
    def violation(self) -> str | None:
        return self.result.violation if self.result else None

    @property
    def killed(self) -> str | None:
        return self.result.killed if self.result else None

    @property
    def exec_time_s(self) -> float:
        return self.result.exec_time_s if self.result else 0.0

    @property
    def sim_summary(self) -> dict:
        """The simulator's ground truth after the block, for the record (never shown to the
        LLM except in the labelled ``privileged`` feedback mode)."""
        return self.result.summary if self.result else {}

    @property
    def success(self) -> bool:
        return self.result is not None and self.result.success

    @property
    def reward(self) -> float:
        return self.result.reward if self.result else 0.0

    @property
    def skill_calls(self) -> dict[str, list[int]]:
        return self.result.skill_calls if self.result else {}

    @property
    def api_calls(self) -> dict[str, int]:
        return self.result.api_calls if self.result else {}

    FLAT = (
        "executed",
        "ok",
        "stdout",
        "stderr",
        "exception",
        "violation",
        "killed",
        "sim_summary",
        "success",
        "reward",
        "exec_time_s",
        "skill_calls",
        "api_calls",
    )
    """The outcome's fields, as the store and ``trial --json`` show a block (flat)."""

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("result", "frames")}
        out.update({name: getattr(self, name) for name in self.FLAT})
        return out


@dataclass
class TrialRecord:
    """A whole trial. Success means the FINAL executed block left the task solved."""

    trial_id: str
    task: str
    seed: int
    backend: str
    model: str
    synthetic: bool
    condition: str = "P21_a"
    library_version: str = ""
    final_success: bool = False
    any_success: bool = False
    code_ran_clean: bool = False
    reward: float = 0.0
    blocks: list[BlockRecord] = field(default_factory=list)
    end_reason: str = ""
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    wall_time_s: float = 0.0
    llm_time_s: float = 0.0
    exec_time_s: float = 0.0
    served_model: str = ""
    """The models the server said answered, in order of first answer, comma-separated."""
    failed_call: FailedCall | None = None
    """The call that ended the trial with ``llm_error`` (its retries are kept, not lost)."""

    @property
    def executed_blocks(self) -> list[BlockRecord]:
        return [b for b in self.blocks if b.executed]

    @property
    def n_blocks(self) -> int:
        return len(self.executed_blocks)

    @property
    def regenerations(self) -> int:
        return sum(b.decision == "regenerate" for b in self.blocks)

    @property
    def finishes(self) -> int:
        return sum(b.decision == "finish" for b in self.blocks)

    def summary(self) -> dict:
        """The per-trial figures, without the blocks."""
        out = {k: v for k, v in asdict(self).items() if k != "blocks"}
        out.update(n_blocks=self.n_blocks, regenerations=self.regenerations, finishes=self.finishes)
        return out

    def to_dict(self) -> dict:
        out = self.summary()
        out["blocks"] = [b.to_dict() for b in self.blocks]
        return out


@dataclass(frozen=True)
class FailedCall:
    """An LLM call that failed for good: which turn, why, and what was retried before."""

    block: int
    error: str
    kind: str = "error"
    status: int | None = None
    retries: tuple[dict, ...] = ()
    model: str = ""


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_m: float = 0.0
    output_per_m: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / 1e6
