"""Plain records of what happened in a trial, one per turn and one per trial."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class BlockRecord:
    """One LLM turn and, unless it was FINISH, the code block it produced and how that ran.

    ``decision`` is "initial" for the first block, "regenerate" for later ones and "finish" for
    the closing turn (``executed`` False: nothing ran).
    """

    index: int
    decision: str
    prompt: str
    reply: str
    reasoning: str | None = None
    code: str = ""
    executed: bool = False
    ok: bool = False
    stdout: str = ""
    stderr: str = ""
    exception: str | None = None
    violation: str | None = None
    killed: str | None = None
    sim_summary: dict = field(default_factory=dict)
    """The simulator's ground truth after the block, for the record (never shown to the LLM
    except in the labelled ``privileged`` feedback mode)."""
    feedback: str = ""
    """What the feedback mode added to the next prompt beyond code, stdout and stderr: the
    vision model's description (``vdm``) or the PRIVILEGED scene diff; empty in ``capx``."""
    reward: float = 0.0
    success: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_latency_s: float = 0.0
    llm_retries: list[dict] = field(default_factory=list)
    served_model: str = ""
    """The model the server says answered this turn (it may differ from the one asked for)."""
    system_fingerprint: str = ""
    served_extra: dict = field(default_factory=dict)
    exec_time_s: float = 0.0
    wall_time_s: float = 0.0
    skill_calls: dict[str, list[int]] = field(default_factory=dict)
    """Library skill -> [calls, calls that raised] made by the block's code, counted at run time."""
    api_calls: dict[str, int] = field(default_factory=dict)
    """API function -> calls during the block, counted at run time (skills' own calls too)."""
    vdm_prompt_tokens: int = 0
    """Tokens of the vision model's calls made for this block's feedback (``vdm`` mode)."""
    vdm_completion_tokens: int = 0
    vdm_latency_s: float = 0.0


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
        out["blocks"] = [asdict(b) for b in self.blocks]
        return out


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_m: float = 0.0
    output_per_m: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / 1e6
