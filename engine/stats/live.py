"""What the console (and ``autocapx stats session``) shows of the experiment design, now:
each arm's Wilson interval beside its anytime-valid confidence sequence and its cost per
success, each paired contrast with its fixed-n test and its anytime-valid verdict, the plan's
verdicts and spend against budget. Pure functions of a :class:`SessionReader` returning
frozen dataclasses; every figure is recomputable from ``autocapx export``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from engine.events import ArmSettled
from engine.stats.analysis import PlanReport, frozen_plan, session_verdicts
from engine.stats.budget import Spend, session_spend
from engine.stats.paired import PairedComparison, outcomes_from_rows, session_pairs
from engine.stats.sequential import SequentialContrast, confidence_sequence, sequential_contrast
from engine.stats.summary import live_summary
from engine.store.reader import SessionReader


@dataclass(frozen=True)
class ArmNow:
    """One arm (condition x backbone x round) at its current n."""

    condition: str
    backbone: str
    round: int
    n: int
    k: int
    rate: float
    wilson_low: float  # fixed-n 95% (valid only if n was fixed in advance)
    wilson_high: float
    cs_low: float  # anytime-valid (1 - alpha) confidence sequence
    cs_high: float
    cost_usd: float
    cost_per_success_usd: float | None  # None: no success yet
    settled: bool  # stop_when = "decided": this arm gets no more trials

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ContrastNow:
    """A condition against the reference on the seeds both ran: the fixed-n paired test and
    the anytime-valid verdict side by side."""

    paired: PairedComparison
    sequential: SequentialContrast

    def to_dict(self) -> dict:
        return {"paired": self.paired.to_dict(), "sequential": self.sequential.to_dict()}


@dataclass(frozen=True)
class DesignNow:
    arms: tuple[ArmNow, ...]
    contrasts: tuple[ContrastNow, ...]
    plan: PlanReport
    spend: tuple[Spend, ...]
    alpha: float

    def to_dict(self) -> dict:
        return {
            "alpha": self.alpha,
            "arms": [a.to_dict() for a in self.arms],
            "contrasts": [c.to_dict() for c in self.contrasts],
            "plan": None if self.plan.plan is None else self.plan.plan.to_dict(),
            "deviations": list(self.plan.deviations),
            "verdicts": [v.to_dict() for v in self.plan.verdicts],
            "spend": [s.to_dict() for s in self.spend],
        }


def arms_now(reader: SessionReader, alpha: float = 0.05) -> list[ArmNow]:
    """Every arm: Wilson 95% and the (1 - alpha) confidence sequence, cost per success."""
    settled = {
        (e.data.get("condition"), e.data.get("backbone"), e.data.get("round"))
        for e in reader.events_since(0, limit=100_000, kinds=(ArmSettled.kind,))
    }
    out = []
    for r in live_summary(reader, by_backbone=True):
        cs = confidence_sequence(r.k, r.n, alpha)
        out.append(
            ArmNow(
                r.condition,
                r.backbone,
                r.round,
                r.n,
                r.k,
                r.rate,
                r.low,
                r.high,
                cs.low,
                cs.high,
                r.cost_usd,
                r.cost_usd / r.k if r.k else None,
                (r.condition, r.backbone, r.round) in settled,
            )
        )
    return out


def contrasts_now(
    reader: SessionReader, reference: str, alpha: float = 0.05, margin: float = 0.0
) -> list[ContrastNow]:
    """Every arm against ``reference`` (same backbone and round, and pooled over backbones)."""
    outcomes = outcomes_from_rows(reader.trials(status="done"))
    return [
        ContrastNow(pc, sequential_contrast(pc.test.b, pc.test.c, pc.n_pairs, alpha, margin))
        for pc in session_pairs(outcomes, reference, 1 - alpha)
    ]


def design_now(reader: SessionReader) -> DesignNow:
    """Everything above for a session, with the alpha, margin and reference of its frozen
    plan (without one: 0.05, no margin, the session's reference)."""
    config = reader.session()["config"]
    plan = frozen_plan(config)
    alpha = plan.alpha if plan else 0.05
    margin = plan.margin if plan else 0.0
    reference = plan.reference if plan else (config.get("session") or {}).get("reference", "P21_a")
    return DesignNow(
        tuple(arms_now(reader, alpha)),
        tuple(contrasts_now(reader, reference, alpha, margin)),
        session_verdicts(reader),
        tuple(session_spend(reader)),
        alpha,
    )
