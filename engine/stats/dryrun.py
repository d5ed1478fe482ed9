"""The dry-run plan of a sweep (``autocapx plan``): trials, LLM calls, tokens, cost, wall
time and power, before anything runs.

Every estimate is trials x a per-trial figure of the backbone. Before a session has finished
trials the per-trial figures are priors, each stated in ``assumptions``: 2.5 calls per trial
(what the synthetic coder and the study's models used per trial, README "How it scales"),
prompt tokens from the length of the first prompt the trial would send (4 characters per
token, x 1.25 for the follow-ups that carry code and output), 600 completion tokens per call,
LLM time from ``latency_s_per_token`` (synthetic and replay) or 20 s per call (a real model),
and 5 s of simulation per call (a block). With ``--session`` they are the session's own means
over its finished trials (``calibrated_from``), and the plan covers the trials still to run.

Wall time is the largest of three ceilings: trial-seconds over the session's concurrency,
each backbone's trial-seconds over its own concurrency, and each backbone's calls over its
``requests_per_minute``. Power is that of a two-sided test at the plan's alpha to detect the
plan's ``target_difference`` from its ``baseline_rate`` with the planned trials per arm
(unpaired, Cohen's h; the paired analysis is at least as powerful when, as here, arms share
seeds and scene difficulty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

PRIOR_CALLS_PER_TRIAL = 2.5
PRIOR_COMPLETION_PER_CALL = 600.0
PRIOR_FOLLOW_UP_FACTOR = 1.25
PRIOR_LLM_S_PER_CALL = 20.0
PRIOR_SIM_S_PER_CALL = 5.0


@dataclass(frozen=True)
class PerTrial:
    """What one trial of a backbone is expected to take."""

    calls: float
    prompt_tokens: float
    completion_tokens: float
    wall_s: float
    source: str  # "prior" or "calibrated from N trials"


@dataclass(frozen=True)
class BackbonePlan:
    backbone: str
    trials: int
    per_trial: PerTrial
    llm_calls: float
    prompt_tokens: float
    completion_tokens: float
    cost_usd: float
    trial_seconds: float


@dataclass(frozen=True)
class DryRun:
    trials: int
    llm_calls: int
    tokens: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    wall_s: float
    power: float | None
    """Power to detect the target difference with the planned trials per arm (None: one
    condition only, nothing to compare)."""
    per_arm: int
    target: dict
    per_backbone: list[BackbonePlan]
    calibrated_from: int = 0
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def prior_per_trial(backbone, prompt_tokens: float) -> PerTrial:  # noqa: ANN001
    """The prior figures of one trial of ``backbone`` (module docstring)."""
    calls = PRIOR_CALLS_PER_TRIAL
    completion = PRIOR_COMPLETION_PER_CALL
    if backbone.backend in ("synthetic", "replay"):
        llm_s = completion * backbone.latency_s_per_token
    else:
        llm_s = PRIOR_LLM_S_PER_CALL
    wall = calls * (llm_s + PRIOR_SIM_S_PER_CALL)
    return PerTrial(
        calls, prompt_tokens * PRIOR_FOLLOW_UP_FACTOR * calls, completion * calls, wall, "prior"
    )


def calibrated_per_trial(rows: Sequence[Mapping], calls: Mapping[int, int]) -> PerTrial | None:
    """Means over finished trial rows (``trials`` of the session) and their LLM call counts
    (run id -> calls); None without finished trials."""
    done = [r for r in rows if r.get("status") == "done"]
    if not done:
        return None
    n = len(done)
    return PerTrial(
        sum(calls.get(r["run_id"], 0) for r in done) / n,
        sum(r.get("prompt_tokens") or 0 for r in done) / n,
        sum(r.get("completion_tokens") or 0 for r in done) / n,
        sum(r.get("wall_time_s") or 0.0 for r in done) / n,
        f"calibrated from {n} trials",
    )


def power_to_detect(n_per_arm: int, baseline: float, difference: float, alpha: float) -> float:
    """Two-sided power at ``alpha`` to tell ``baseline`` from ``baseline + difference`` (or
    minus, when that would pass 1) with ``n_per_arm`` trials per arm (statsmodels)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    other = baseline + difference if baseline + difference <= 1 else baseline - difference
    h = abs(float(proportion_effectsize(other, baseline)))
    return float(NormalIndPower().power(effect_size=h, nobs1=n_per_arm, alpha=alpha, ratio=1.0))


def dry_run(
    config,  # noqa: ANN001 - a SweepConfig
    first_prompt_tokens: float,
    remaining: Mapping[str, int] | None = None,
    calibration: Mapping[str, PerTrial] | None = None,
) -> DryRun:
    """The plan of ``config``: every trial, or ``remaining`` (backbone -> trials still to
    run), with per-trial figures from ``calibration`` (backbone -> PerTrial) or the priors
    (``first_prompt_tokens``: the mean size of a trial's first prompt, in tokens)."""
    calibration = calibration or {}
    per_backbone_trials = config.session.trials_per_condition * len(config.conditions)
    mean_prompt = first_prompt_tokens
    plans = []
    assumptions = []
    for b in config.backbones:
        trials = per_backbone_trials if remaining is None else int(remaining.get(b.name, 0))
        pt = calibration.get(b.name) or prior_per_trial(b, mean_prompt)
        if pt.source == "prior":
            assumptions.append(
                f"{b.name}: prior {pt.calls:g} calls, {pt.prompt_tokens:,.0f} prompt and "
                f"{pt.completion_tokens:,.0f} completion tokens, {pt.wall_s:.0f} s per trial"
            )
        cost = (
            trials * pt.prompt_tokens * b.price_input_per_m
            + trials * pt.completion_tokens * b.price_output_per_m
        ) / 1e6
        plans.append(
            BackbonePlan(
                b.name,
                trials,
                pt,
                trials * pt.calls,
                trials * pt.prompt_tokens,
                trials * pt.completion_tokens,
                cost,
                trials * pt.wall_s,
            )
        )
    s = config.session
    ceilings = [sum(p.trial_seconds for p in plans) / s.concurrency]
    for b, p in zip(config.backbones, plans, strict=True):
        ceilings.append(p.trial_seconds / (b.concurrency or s.concurrency))
        if b.requests_per_minute:
            ceilings.append(p.llm_calls * 60.0 / b.requests_per_minute)
    analysis = config.analysis
    alpha = analysis.alpha if analysis else 0.05
    baseline = analysis.baseline_rate if analysis else 0.5
    difference = analysis.target_difference if analysis else 0.1
    if not analysis:
        assumptions.append("no [analysis] plan: power for 10 points from 50% at alpha 0.05")
    power = (
        power_to_detect(s.trials_per_condition, baseline, difference, alpha)
        if len(config.conditions) > 1
        else None
    )
    prompt = sum(p.prompt_tokens for p in plans)
    completion = sum(p.completion_tokens for p in plans)
    return DryRun(
        trials=sum(p.trials for p in plans),
        llm_calls=round(sum(p.llm_calls for p in plans)),
        tokens=round(prompt + completion),
        prompt_tokens=round(prompt),
        completion_tokens=round(completion),
        cost_usd=round(sum(p.cost_usd for p in plans), 6),
        wall_s=round(max(ceilings), 1),
        power=None if power is None else round(power, 4),
        per_arm=s.trials_per_condition,
        target={"baseline_rate": baseline, "difference": difference, "alpha": alpha},
        per_backbone=plans,
        calibrated_from=sum(
            int(c.source.split()[2]) for c in calibration.values() if c.source != "prior"
        ),
        assumptions=assumptions,
    )


def session_calibration(reader) -> tuple[dict[str, PerTrial], dict[str, int]]:  # noqa: ANN001
    """(backbone -> calibrated PerTrial, backbone -> done trials) from a session's store."""
    runs = reader.trials()
    calls: dict[int, int] = {}
    for call in reader.llm_calls():
        calls[call["run_id"]] = calls.get(call["run_id"], 0) + 1
    out, done = {}, {}
    for bb in sorted({r["backbone"] for r in runs}):
        mine = [r for r in runs if r["backbone"] == bb]
        pt = calibrated_per_trial(mine, calls)
        if pt is not None:
            out[bb] = pt
        done[bb] = sum(r["status"] == "done" for r in mine)
    return out, done
