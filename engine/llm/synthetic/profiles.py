"""How good the synthetic coder is: bug rates, fix rates, skill use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    bug_rate: float
    """Chance that a freshly written program carries one of the catalogue's bugs."""
    fix_prob: float
    """Chance that, after a failed block, the next program fixes the bug it can see."""
    premature_finish: float
    """Chance of answering FINISH after a failure."""
    finish_on_success: float
    """Chance of answering FINISH once its own lift check reports the cube up (else it looks
    once more)."""
    skill_use: float
    """Chance of calling a fitting library skill listed in the prompt instead of writing the step."""
    rewrite_failed_skill: float
    """Chance that a step whose skill call failed is rewritten with API primitives next time."""
    helper_style: float
    """Chance of the helper-function-heavy style (many top-level defs, the miner's food)."""
    docstring: float
    """Chance that a helper it defines has a docstring."""
    verify: float
    """Chance that a program looks at the scene again after lifting and prints how far the cube
    rose; without that line the coder can only go by errors (no error: it believes it worked)."""


PROFILES = {
    "strong": Profile("strong", 0.2, 0.8, 0.02, 0.97, 0.7, 0.6, 0.5, 0.7, 0.9),
    "weak": Profile("weak", 0.6, 0.4, 0.15, 0.9, 0.5, 0.4, 0.4, 0.35, 0.6),
}
