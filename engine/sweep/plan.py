"""The list of trials a sweep consists of: conditions x backbones x n, with derived seeds.

Trial ``i`` of every (condition, backbone) cell uses scene seed ``session.seed + i``, so
conditions are compared on the same scenes. The order interleaves cells, so a sweep that is
stopped early still has balanced arms.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.sweep.config import SweepConfig


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
