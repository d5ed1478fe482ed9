"""Skill mining benchmark: mine and gate 10,000 programs (goal < 10 s); mine their call
sequences (goal < 1 minute); fingerprint 1,000 candidates' behaviour in the sandbox (goal < 1
minute), so both can run between rounds.

Programs come from the synthetic coder (first turns, both profiles, with and without a library
in the prompt), so they have the variety of helpers real sessions mine. Generating them is not
timed; mining (AST extraction, grouping), gating and building every study condition is, and so
are call-sequence mining and behavioural fingerprinting, each on its own. The pool has fewer
than 1,000 distinct functions, so the fingerprinting input repeats them under other names
(distinct sources, hence distinct candidates; the probing work is the same).

Run: ``python bench/skills_bench.py [--programs 10000] [--candidates 1000] [--quick]``
(``--quick``: 300 programs, 50 candidates).
"""

from __future__ import annotations

import argparse
import ast
import sys
import time

from engine.api.docs import robot_api_docs
from engine.llm.synthetic import SyntheticBackend
from engine.skills import conditions as cond
from engine.skills.behaviour import fingerprint_all
from engine.skills.gates import GateConfig, run_gates
from engine.skills.mining import BlockCode, Candidate, Provenance, describe, pool
from engine.skills.sequences import generated_candidates
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
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="300 programs, 50 candidates")
    args = parser.parse_args()
    if args.quick:
        args.programs, args.candidates = 300, 50
    blocks = programs(args.programs)
    lines = sum(b.code.count("\n") for b in blocks)
    t0 = time.perf_counter()
    candidates = pool(blocks)
    t1 = time.perf_counter()
    gates = run_gates(candidates, GateConfig())
    t2 = time.perf_counter()
    study = ("C1", "C2", "C3v2", "manual_k", "empty_ns")
    for name in study:
        cond.build(name, candidates, gates, cond.BuildOptions(k=10))
    t3 = time.perf_counter()
    print(f"{len(blocks):,} programs ({lines:,} lines) -> {len(candidates):,} distinct candidates")
    print(
        f"  mining {t1 - t0:.2f} s, gating {t2 - t1:.2f} s, building 5 conditions {t3 - t2:.2f} s"
    )
    print(f"mine + gate + build: {t3 - t0:.2f} s (goal < 10 s at 10,000 programs)")
    successful = sum(b.provenance.trial_success for b in blocks)
    t4 = time.perf_counter()
    generated = generated_candidates(blocks)
    t5 = time.perf_counter()
    print(
        f"sequence mining: {t5 - t4:.2f} s for {len(blocks):,} programs ({successful:,} "
        f"successful) -> {len(generated)} generated candidates (goal < 60 s at 10,000)"
    )
    probe = _variants(candidates, args.candidates)
    t6 = time.perf_counter()
    fingerprints = fingerprint_all(probe)
    t7 = time.perf_counter()
    informative = sum(fp.informative for fp in fingerprints.values())
    distinct = len({fp.digest for fp in fingerprints.values() if fp.informative})
    print(
        f"behavioural fingerprinting: {t7 - t6:.2f} s for {len(probe):,} candidates "
        f"({1000 * (t7 - t6) / max(1, len(probe)):.1f} ms each; {informative} informative, "
        f"{distinct} distinct behaviours) (goal < 60 s at 1,000)"
    )
    return 0


def _variants(candidates: list[Candidate], n: int) -> list[Candidate]:
    """``n`` candidates: the pool's, then the pool's again under other names."""
    out: list[Candidate] = []
    round_ = 0
    while len(out) < n and candidates:
        for c in candidates[: n - len(out)]:
            if round_ == 0:
                out.append(c)
                continue
            name = f"{c.name}_v{round_}"
            source = c.info.source.replace(f"def {c.name}(", f"def {name}(", 1)
            node = ast.parse(source).body[0]
            out.append(Candidate(describe(node, source), list(c.occurrences), c.first_seen))  # type: ignore[arg-type]
        round_ += 1
    return out


if __name__ == "__main__":
    sys.exit(main())
