"""The pre-registered analysis plan (``[analysis]``) and its verdicts, in plain words.

The plan is frozen with the session when it starts (``_plan`` in the stored config); a resume
with a changed plan is refused, or with ``--force`` recorded as a ``plan_deviation`` event,
and the report opens with the frozen plan, its deviations and its verdicts.

Each primary contrast (a condition against the reference, on one backbone and round) gets
one verdict: **better**, **worse**, **equivalent** (within +-margin) or **not shown**.

* With ``stop_when = "never"`` (a fixed-n design) the verdict comes from the paired tests of
  :mod:`engine.stats.paired`: the exact McNemar p < alpha gives better or worse; otherwise, if
  a margin was pre-registered, equivalence is TOST on the paired difference (the 1 - 2 alpha
  Agresti-Min interval inside (-margin, +margin)).
* With ``stop_when = "decided"`` the sweep looked at the data after every trial, so the
  verdict comes from the anytime-valid confidence sequences of :mod:`engine.stats.sequential`,
  and an arm whose verdict is settled gets no more trials (:func:`settled_arms`).

Pooled over backbones (``all``), pairs of one seed are correlated: the interval is the
seed-clustered one, the test is whether it excludes 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from engine.stats.paired import (
    Outcome,
    agresti_min,
    mcnemar_exact,
    outcomes_from_rows,
    paired_comparison,
)
from engine.stats.sequential import sequential_contrast

VERDICTS = ("better", "worse", "equivalent", "not shown")


@dataclass(frozen=True)
class AnalysisPlan:
    """The frozen plan: contrasts against the reference, alpha, margin, the stopping rule."""

    reference: str
    contrasts: tuple[str, ...]
    alpha: float = 0.05
    margin: float = 0.0
    stop_when: str = "never"
    target_difference: float = 0.1
    baseline_rate: float = 0.5

    @classmethod
    def from_dict(cls, data: Mapping) -> AnalysisPlan:
        return cls(
            reference=str(data["reference"]),
            contrasts=tuple(data.get("contrasts") or ()),
            alpha=float(data.get("alpha", 0.05)),
            margin=float(data.get("margin", 0.0)),
            stop_when=str(data.get("stop_when", "never")),
            target_difference=float(data.get("target_difference", 0.1)),
            baseline_rate=float(data.get("baseline_rate", 0.5)),
        )

    def to_dict(self) -> dict:
        out = asdict(self)
        out["contrasts"] = list(self.contrasts)
        return out

    def lines(self) -> list[str]:
        """The plan in words, as the report opens with it."""
        margin = (
            f"equivalence within ±{100 * self.margin:g} points (TOST)"
            if self.margin
            else "no equivalence margin (no claim of equivalence can be made)"
        )
        stop = (
            "stop an arm once its verdict is settled (anytime-valid confidence sequences)"
            if self.stop_when == "decided"
            else "run every planned trial, then test once (fixed n)"
        )
        return [
            f"reference: {self.reference}; contrasts: {', '.join(self.contrasts)}",
            f"alpha {self.alpha:g} per contrast (two-sided); {margin}",
            f"stopping rule: {stop}",
        ]


def frozen_plan(config: Mapping) -> AnalysisPlan | None:
    """The plan a session was started with (the stored config snapshot), if it had one."""
    data = config.get("_plan") or config.get("analysis")
    return AnalysisPlan.from_dict(data) if data else None


@dataclass(frozen=True)
class Verdict:
    """One contrast's verdict. ``diff``/``low``/``high`` are fractions (p_A - p_ref)."""

    condition: str
    reference: str
    backbone: str
    round: int
    n_pairs: int
    b: int
    c: int
    verdict: str  # one of VERDICTS
    words: str  # the verdict as a sentence a reader cannot misread
    method: str
    diff: float
    low: float
    high: float
    p_value: float | None  # exact McNemar two-sided (fixed n); None for the anytime verdict

    def to_dict(self) -> dict:
        return asdict(self)


def _pp(x: float) -> str:
    return f"{100 * x:+.1f}"


def _words(
    v: str,
    a: str,
    ref: str,
    where: str,
    diff: float,
    lo: float,
    hi: float,
    plan: AnalysisPlan,
    ci: str,
    p: float | None,
) -> str:  # noqa: E501
    shown = f"{_pp(diff)} points ({ci} {_pp(lo)} to {_pp(hi)})"
    pv = f", p = {p:.3g}" if p is not None else ""
    if v == "better":
        return f"{a} is BETTER than {ref} {where}: {shown}{pv}."
    if v == "worse":
        return f"{a} is WORSE than {ref} {where}: {shown}{pv}."
    if v == "equivalent":
        return (
            f"{a} is EQUIVALENT to {ref} {where} within ±{100 * plan.margin:g} points: {shown}, "
            "inside the margin."
        )
    why = (
        f"nor equivalence within ±{100 * plan.margin:g} points"
        if plan.margin
        else "and no margin was pre-registered, so equivalence cannot be claimed"
    )
    return (
        f"NOT SHOWN {where}: {a} vs {ref} differs by {shown}{pv}; neither a difference was shown "
        f"{why}. This is not evidence that they are equal."
    )


def verdict(
    outcomes: Sequence[Outcome], plan: AnalysisPlan, condition: str, backbone: str, round_: int = 0
) -> Verdict | None:
    """The plan's verdict on ``condition`` against its reference (None: no pairs yet)."""
    pc = paired_comparison(outcomes, condition, plan.reference, backbone, round_)
    if pc is None:
        return None
    b, c, n = pc.test.b, pc.test.c, pc.n_pairs
    where = f"on {backbone}" + (f", round {round_}" if round_ else "")
    p = None
    if plan.stop_when == "decided":
        s = sequential_contrast(b, c, n, plan.alpha, plan.margin)
        v = {"undecided": "not shown"}.get(s.verdict, s.verdict)
        diff, low, high = s.diff, s.diff_low, s.diff_high
        method = f"confidence sequence, anytime-valid at alpha {plan.alpha:g}"
        ci = f"{1 - plan.alpha:.0%} CS"
    else:
        diff = (b - c) / n
        pooled = pc.clustered_se is not None
        if pooled:
            z_lo, z_hi = pc.clustered_low, pc.clustered_high
            low, high = float(z_lo), float(z_hi)  # type: ignore[arg-type]
            significant = low > 0 or high < 0
            method = "paired by seed, seed-clustered interval"
        else:
            t = mcnemar_exact(b, c, n, 1 - plan.alpha)
            low, high, p = float(t.diff_low), float(t.diff_high), t.p_exact_two_sided  # type: ignore[arg-type]
            significant = p < plan.alpha
            method = "paired by seed: exact McNemar, Agresti-Min interval"
        ci = f"{1 - plan.alpha:.0%} CI"
        if significant:
            v = "better" if diff > 0 else "worse"
        else:
            v = "not shown"
            if plan.margin:
                if pooled:
                    import scipy.stats as st

                    z = float(st.norm.ppf(1 - plan.alpha))
                    e_lo, e_hi = diff - z * pc.clustered_se, diff + z * pc.clustered_se  # type: ignore[operator]
                else:
                    e_lo, e_hi = agresti_min(b, c, n, 1 - 2 * plan.alpha)
                if -plan.margin < e_lo and e_hi < plan.margin:
                    v = "equivalent"
                    low, high = e_lo, e_hi
                    ci = f"{1 - 2 * plan.alpha:.0%} CI (TOST)"
                method += f"; TOST at ±{100 * plan.margin:g} points"
    words = _words(v, condition, plan.reference, where, diff, low, high, plan, ci, p)
    return Verdict(
        condition, plan.reference, backbone, round_, n, b, c, v, words, method, diff, low, high, p
    )


def verdicts(outcomes: Sequence[Outcome], plan: AnalysisPlan) -> list[Verdict]:
    """Every primary contrast on every backbone and round (and pooled when several)."""
    backbones = sorted({o.backbone for o in outcomes})
    rounds = sorted({o.round for o in outcomes})
    out = []
    for round_ in rounds:
        for condition in plan.contrasts:
            for bb in backbones + (["all"] if len(backbones) > 1 else []):
                v = verdict(outcomes, plan, condition, bb, round_)
                if v is not None:
                    out.append(v)
    return out


def settled_arms(
    outcomes: Sequence[Outcome], plan: AnalysisPlan, backbones: Sequence[str], round_: int = 0
) -> set[tuple[str, str, int]]:
    """Arms (condition, backbone, round) that need no more trials under ``stop_when =
    "decided"``: a contrast whose anytime-valid verdict is settled, and the reference of a
    backbone once every contrast on it is settled."""
    if plan.stop_when != "decided":
        return set()
    out = set()
    for bb in backbones:
        done = 0
        for condition in plan.contrasts:
            pc = paired_comparison(outcomes, condition, plan.reference, bb, round_)
            if pc is None:
                continue
            s = sequential_contrast(pc.test.b, pc.test.c, pc.n_pairs, plan.alpha, plan.margin)
            if s.decided:
                out.add((condition, bb, round_))
                done += 1
        if done == len(plan.contrasts):
            out.add((plan.reference, bb, round_))
    return out


@dataclass(frozen=True)
class PlanReport:
    """What the report and the console show of the plan: it, its deviations, its verdicts."""

    plan: AnalysisPlan | None
    deviations: tuple[dict, ...]
    verdicts: tuple[Verdict, ...]


def session_verdicts(reader) -> PlanReport:  # noqa: ANN001 - a SessionReader
    """The frozen plan of a session, the deviations recorded from it, and its verdicts now."""
    from engine.events import PlanDeviation

    config = reader.session()["config"]
    plan = frozen_plan(config)
    if plan is None:
        return PlanReport(None, (), ())
    deviations = tuple(
        {"at": e.at, **e.data}
        for e in reader.events_since(0, limit=1000, kinds=(PlanDeviation.kind,))
    )
    outcomes = outcomes_from_rows(reader.trials(status="done"))
    return PlanReport(plan, deviations, tuple(verdicts(outcomes, plan)))
