"""Skill mining benchmark: mine and gate 10,000 programs (goal < 10 s).

Programs come from the synthetic coder (first turns, both profiles, with and without a library
in the prompt), so they have the variety of helpers real sessions mine. Generating them is not
timed; mining (AST extraction, grouping), gating and building every condition is.

Run: ``python bench/skills_bench.py [--programs 10000] [--quick]`` (``--quick``: 300 programs).
"""

from __future__ import annotations

import argparse
import sys
import time

from engine.api.docs import robot_api_docs
from engine.llm.synthetic import SyntheticBackend
from engine.skills import conditions as cond
from engine.skills.gates import GateConfig, run_gates
from engine.skills.mining import BlockCode, Provenance, pool
from engine.trial.prompts import initial_prompt, messages


def programs(n: int) -> list[BlockCode]:
    prompts = [
        messages(initial_prompt("pick up the red cube and lift it", robot_api_docs(lib)))
        for lib in (None, "curated9")
    ]
    out = []
    for i in range(n):
        backend = SyntheticBackend("weak" if i % 2 else "strong", seed=i)
        code = backend.reply_for(prompts[i % 2])
        out.append(BlockCode(code, Provenance(f"t{i}", 0, backend.model, "P21_a", i % 3 != 0)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--programs", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="300 programs")
    args = parser.parse_args()
    if args.quick:
        args.programs = 300
    blocks = programs(args.programs)
    lines = sum(b.code.count("\n") for b in blocks)
    t0 = time.perf_counter()
    candidates = pool(blocks)
    t1 = time.perf_counter()
    gates = run_gates(candidates, GateConfig())
    t2 = time.perf_counter()
    for name in cond.MINED:
        cond.build(name, candidates, gates, cond.BuildOptions(k=10))
    t3 = time.perf_counter()
    print(f"{len(blocks):,} programs ({lines:,} lines) -> {len(candidates):,} distinct candidates")
    print(
        f"  mining {t1 - t0:.2f} s, gating {t2 - t1:.2f} s, building 5 conditions {t3 - t2:.2f} s"
    )
    print(f"mine + gate + build: {t3 - t0:.2f} s (goal < 10 s at 10,000 programs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
