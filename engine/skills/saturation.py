"""Saturation, as the study measures it: how many top-level ``def``s the LLM still writes.

Once the library is dense the model calls skills instead of writing functions, and mining from
``def``s runs dry. The measure is per arm (condition x backbone) and round: top-level function
definitions per executed block in trials that ran with a mined library. A round is saturated
when every such arm writes at most ``ratio`` of what it wrote in the first round (whose library
was still empty); an arm that never wrote any counts as saturated.
"""

from __future__ import annotations

from engine.skills import conditions as cond
from engine.skills.mining import extract_defs
from engine.store.reader import SessionReader


def defs_per_block(
    reader: SessionReader, round_: int, conditions: dict[str, str]
) -> dict[tuple[str, str], float]:
    """(condition, backbone) -> top-level defs per executed block in ``round_``, for the
    conditions whose library (``conditions``: name -> library) is mined."""
    mined = {name for name, library in conditions.items() if cond.canonical(library) in cond.MINED}
    defs: dict[tuple[str, str], int] = {}
    blocks: dict[tuple[str, str], int] = {}
    for _, _, condition, backbone, code in reader.executed_code(round_):
        if condition not in mined:
            continue
        arm = (condition, backbone)
        blocks[arm] = blocks.get(arm, 0) + 1
        defs[arm] = defs.get(arm, 0) + len(extract_defs(code or ""))
    return {arm: defs[arm] / blocks[arm] for arm in blocks}


def saturated(
    now: dict[tuple[str, str], float], first: dict[tuple[str, str], float], ratio: float
) -> bool:
    """Every library arm writes at most ``ratio`` of its first round's defs per block."""
    if not now:
        return False
    return all(
        rate <= ratio * first[arm] if first.get(arm) else rate == 0.0 for arm, rate in now.items()
    )
