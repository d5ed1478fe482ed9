"""Gates: pure functions that pass or fail a candidate skill, each with a reason a person can read.

The pipeline runs every gate on every candidate (no short-circuit), so the library pane can
show all the reasons a candidate was rejected. Thresholds live in :class:`GateConfig`
(``[skills]`` in the sweep config).

Gates, in order:
  compiles      the source parses and compiles on its own
  docstring     it has a docstring (undocumented skills are the ones LLMs never call)
  generality    no task-specific names, no hard-coded coordinates or magic constants where
                parameters belong, no use of trial-local globals
  occurrences   it appeared in at least ``min_occurrences`` trials
  success       the trials it appeared in succeeded at least ``min_success_rate`` of the time
  dependencies  everything it calls exists: the API, builtins, allowed modules, its own
                parameters/locals, or another skill that passes the other gates
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from engine.api.names import API_NAMES as _API_NAMES
from engine.sandbox.policy import ALLOWED_MODULES
from engine.skills.mining import BUILTIN_NAMES, Candidate

API_NAMES = frozenset(_API_NAMES)
MODULE_NAMES = frozenset({"np", "numpy", "math"} | {m.split(".")[0] for m in ALLOWED_MODULES})
TASK_WORDS = ("cube", "cubes", "block", "red", "green", "blue", "lift", "stack", "table")
"""Words that tie a function to this task or scene rather than to a reusable operation."""
GENERIC_NAMES = frozenset(
    {"main", "run", "solve", "demo", "execute", "do_task", "solve_task", "run_task", "go"}
)
"""Whole names that say nothing about what a function does (CaP-X's miner dropped these too)."""
TRIVIAL_CONSTANTS = frozenset({0, 1, 2, -1, 0.5, -1.0, 3, 4, 10, 100, 1e-6, 1e-8, 1e-9, 1e-12})


@dataclass(frozen=True)
class GateConfig:
    min_occurrences: int = 2
    min_success_rate: float = 0.5
    max_magic_constants: int = 2
    min_lines: int = 3
    require_docstring: bool = True


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    reason: str


def gate_compiles(c: Candidate, cfg: GateConfig) -> GateResult:
    try:
        compile(c.info.source, f"<skill {c.name}>", "exec")
    except SyntaxError as exc:
        return GateResult("compiles", False, f"does not compile: {exc.msg} (line {exc.lineno})")
    if c.info.lines < cfg.min_lines:
        return GateResult("compiles", False, f"only {c.info.lines} lines: too small to be a skill")
    return GateResult("compiles", True, "parses and compiles")


def gate_docstring(c: Candidate, cfg: GateConfig) -> GateResult:
    if c.has_docstring:
        return GateResult("docstring", True, "has a docstring")
    if not cfg.require_docstring:
        return GateResult("docstring", True, "no docstring (not required: require_docstring off)")
    return GateResult("docstring", False, "no docstring: the prompt could not say what it does")


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"_|(?<=[a-z])(?=[A-Z])", name.lower()) if w]


def _magic_constants(source: str, params: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(hard-coded coordinate literals, other magic numbers) in the body, defaults excluded."""
    tree = ast.parse(source)
    fn = tree.body[0]
    coordinates: list[str] = []
    magic: list[str] = []
    body = fn.body if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) else []
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, ast.List | ast.Tuple) and len(node.elts) == 3:
            values = [
                e
                for e in node.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, float | int)
            ]
            negs = [
                e
                for e in node.elts
                if isinstance(e, ast.UnaryOp) and isinstance(e.operand, ast.Constant)
            ]
            consts = values + negs
            nonzero = [
                e for e in consts if not (isinstance(e, ast.Constant) and e.value in (0, 0.0))
            ]
            if len(consts) == 3 and len(nonzero) >= 2:
                coordinates.append(ast.unparse(node))
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, float)
            and not isinstance(node.value, bool)
        ):
            if node.value not in TRIVIAL_CONSTANTS:
                magic.append(repr(node.value))
    return coordinates, magic


def generality_problems(
    c: Candidate, cfg: GateConfig, known_skills: frozenset[str] = frozenset()
) -> list[str]:
    """Every reason ``c`` is not general (empty: it is), in a fixed order."""
    problems = []
    if c.name.lower() in GENERIC_NAMES:
        problems.append(f"name {c.name!r} is too generic to say what it does")
    task = [w for w in _words(c.name) if w in TASK_WORDS]
    if task:
        problems.append(f"name {c.name!r} is task-specific ({', '.join(task)})")
    try:
        coordinates, magic = _magic_constants(c.info.source, c.info.params)
    except SyntaxError:
        return problems + ["cannot be analysed (does not parse)"]
    if coordinates:
        problems.append(f"hard-coded coordinates {coordinates[0]} instead of a parameter")
    if len(magic) > cfg.max_magic_constants:
        shown = ", ".join(magic[:4])
        problems.append(f"{len(magic)} magic constants ({shown}) where parameters belong")
    allowed = API_NAMES | MODULE_NAMES | BUILTIN_NAMES | known_skills
    globals_used = [n for n in c.info.free_names if n not in allowed]
    if globals_used:
        shown = ", ".join(repr(n) for n in globals_used[:3])
        problems.append(f"depends on trial-local globals ({shown})")
    return problems


def gate_generality(
    c: Candidate, cfg: GateConfig, known_skills: frozenset[str] = frozenset()
) -> list[GateResult]:
    """One failed result per reason that applies (all of them are stored), or one pass."""
    problems = generality_problems(c, cfg, known_skills)
    if not problems:
        return [
            GateResult(
                "generality", True, "general: parameters, no task names or hard-coded values"
            )
        ]
    return [GateResult("generality", False, p) for p in problems]


def gate_occurrences(c: Candidate, cfg: GateConfig) -> GateResult:
    n = c.n_trials
    ok = n >= cfg.min_occurrences
    word = "trial" if n == 1 else "trials"
    return GateResult("occurrences", ok, f"appeared in {n} {word} (need {cfg.min_occurrences})")


def gate_success(c: Candidate, cfg: GateConfig) -> GateResult:
    rate = c.success_rate
    ok = rate >= cfg.min_success_rate
    return GateResult(
        "success",
        ok,
        f"its trials succeeded {rate:.0%} of the time (need {cfg.min_success_rate:.0%})",
    )


def gate_dependencies(c: Candidate, cfg: GateConfig, available: frozenset[str]) -> GateResult:
    allowed = API_NAMES | MODULE_NAMES | BUILTIN_NAMES | available
    missing = [n for n in c.info.calls if n not in allowed and n not in c.info.params]
    missing = [n for n in missing if n in c.info.free_names]
    if missing:
        shown = ", ".join(repr(n) for n in missing[:3])
        return GateResult(
            "dependencies", False, f"calls {shown}, which neither the API nor the library provides"
        )
    return GateResult("dependencies", True, "every call resolves within the API and the library")


GATES = ("compiles", "docstring", "generality", "occurrences", "success", "dependencies")


def run_gates(
    candidates: list[Candidate], cfg: GateConfig, library_names: frozenset[str] = frozenset()
) -> dict[str, list[GateResult]]:
    """All gate results per candidate id. Dependencies may be other candidates that pass the rest."""
    names = frozenset(c.name for c in candidates) | library_names
    results: dict[str, list[GateResult]] = {}
    for c in candidates:
        results[c.id] = [
            gate_compiles(c, cfg),
            gate_docstring(c, cfg),
            *gate_generality(c, cfg, names),
            gate_occurrences(c, cfg),
            gate_success(c, cfg),
        ]
    passing = (
        frozenset(c.name for c in candidates if all(r.passed for r in results[c.id]))
        | library_names
    )
    for c in candidates:
        results[c.id].append(gate_dependencies(c, cfg, passing))
    return results


def passed(results: list[GateResult]) -> bool:
    return all(r.passed for r in results)
