"""The list of trials a sweep consists of: conditions x backbones x n, with derived seeds.

Trial ``i`` of every (condition, backbone) cell uses scene seed ``session.seed + i``, so
conditions are compared on the same scenes. The order interleaves cells, so a sweep that is
stopped early still has balanced arms.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import SweepConfig
from engine.trial.records import Price
from engine.trial.spec import LibrarySnapshot, TrialSpec


@dataclass(frozen=True)
class TrialPlan:
    key: str
    index: int
    condition: str
    backbone: str
    seed: int
    round: int = 0


def trial_key(round_: int, condition: str, backbone: str, i: int) -> str:
    return f"r{round_}/{condition}/{backbone}/{i:04d}"


def plan_trials(config: SweepConfig, round_: int = 0) -> list[TrialPlan]:
    plans = []
    n = config.session.trials_per_condition
    for i in range(n):
        for condition in config.conditions:
            for backbone in config.backbones:
                plans.append(
                    TrialPlan(
                        key=trial_key(round_, condition.name, backbone.name, i),
                        index=len(plans),
                        condition=condition.name,
                        backbone=backbone.name,
                        seed=config.session.seed + i,
                        round=round_,
                    )
                )
    return plans


def trial_spec(config: SweepConfig, plan: TrialPlan, library: LibrarySnapshot) -> TrialSpec:
    """The one place a sweep config and a planned trial become a :class:`TrialSpec`."""
    cfg = config.session
    backbone = next(b for b in config.backbones if b.name == plan.backbone)
    vdm = config.vdm
    return TrialSpec(
        trial_id=plan.key,
        world=config.world(plan.seed),
        condition=plan.condition,
        backbone=plan.backbone,
        library=library,
        max_regenerations=cfg.max_regenerations,
        block_timeout_s=cfg.block_timeout_s,
        feedback=cfg.feedback,
        keep_frames=cfg.keep_frames,
        prompts=config.prompt_set,
        price=Price(backbone.price_input_per_m, backbone.price_output_per_m),
        vdm_price=Price(vdm.price_input_per_m, vdm.price_output_per_m) if vdm else Price(),
    )
