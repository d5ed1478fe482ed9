"""Mining: every top-level ``def`` in the code of every block of every completed trial.

Pure functions over source text (AST, not regexes). One :class:`Occurrence` per def per block,
with provenance; :func:`pool` groups identical functions (same source) into
:class:`Candidate` skills with their occurrence counts and the success rate of the trials they
appeared in.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass(frozen=True)
class Provenance:
    trial_key: str
    block: int
    backbone: str
    condition: str
    trial_success: bool
    round: int = 0


@dataclass(frozen=True)
class FunctionInfo:
    """What the AST says about one function definition."""

    name: str
    source: str
    signature: str
    docstring: str
    params: tuple[str, ...]
    calls: tuple[str, ...]
    free_names: tuple[str, ...]
    lines: int

    @property
    def skill_id(self) -> str:
        return skill_id(self.source)


@dataclass
class Candidate:
    """A distinct function (by source) with every place it occurred."""

    info: FunctionInfo
    occurrences: list[Provenance] = field(default_factory=list)
    first_seen: int = 0

    @property
    def id(self) -> str:
        return self.info.skill_id

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def trials(self) -> set[str]:
        return {o.trial_key for o in self.occurrences}

    @property
    def n_trials(self) -> int:
        return len(self.trials)

    @property
    def success_rate(self) -> float:
        by_trial = {o.trial_key: o.trial_success for o in self.occurrences}
        return sum(by_trial.values()) / len(by_trial) if by_trial else 0.0

    @property
    def has_docstring(self) -> bool:
        return bool(self.info.docstring.strip())


def skill_id(source: str) -> str:
    normalised = "\n".join(line.rstrip() for line in source.strip().splitlines())
    return hashlib.sha256(normalised.encode()).hexdigest()[:12]


def _signature(node: ast.FunctionDef) -> str:
    return "(" + ast.unparse(node.args) + ")"


class _Names(ast.NodeVisitor):
    """Names a function loads, assigns and calls (for dependencies and trial-global use)."""

    def __init__(self) -> None:
        self.loaded: list[str] = []
        self.stored: set[str] = set()
        self.calls: list[str] = []

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.loaded.append(node.id)
        else:
            self.stored.add(node.id)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name):
            self.calls.append(node.func.id)
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self.stored.add(node.arg)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.stored.add((alias.asname or alias.name).split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self.stored.add(alias.asname or alias.name)

    def _scope(self, node: ast.AST) -> None:
        self.stored.add(node.name)  # type: ignore[attr-defined]
        self.generic_visit(node)

    visit_FunctionDef = _scope
    visit_AsyncFunctionDef = _scope
    visit_ClassDef = _scope

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self.generic_visit(node)


def describe(node: ast.FunctionDef, source: str) -> FunctionInfo:
    text = ast.get_source_segment(source, node) or ast.unparse(node)
    names = _Names()
    for child in node.body:
        names.visit(child)
    for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
        names.stored.add(arg.arg)
    for arg in (node.args.vararg, node.args.kwarg):
        if arg is not None:
            names.stored.add(arg.arg)
    free = sorted({n for n in names.loaded if n not in names.stored and n not in BUILTIN_NAMES})
    params = tuple(a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs])
    return FunctionInfo(
        name=node.name,
        source=text,
        signature=_signature(node),
        docstring=ast.get_docstring(node) or "",
        params=params,
        calls=tuple(dict.fromkeys(names.calls)),
        free_names=tuple(free),
        lines=len(text.strip().splitlines()),
    )


_DEF_START = re.compile(r"^(?:@|def\s|async\s+def\s)")
_DEF_CACHE: dict[str, FunctionInfo | None] = {}
_CACHE_LIMIT = 50_000


def _top_level_chunks(code: str) -> list[str]:
    """Text of each top-level def (with its decorators), found by indentation alone."""
    chunks: list[str] = []
    current: list[str] | None = None
    for line in code.splitlines():
        at_col0 = bool(line) and not line[0].isspace() and not line.startswith("#")
        if at_col0:
            if current is not None and not (current and current[-1].startswith("@")):
                chunks.append("\n".join(current))
                current = None
            if _DEF_START.match(line):
                current = (current or []) + [line]
                continue
        if current is not None:
            current.append(line)
    if current is not None:
        chunks.append("\n".join(current))
    return chunks


def _describe_chunk(chunk: str) -> FunctionInfo | None:
    if chunk in _DEF_CACHE:
        return _DEF_CACHE[chunk]
    try:
        tree = ast.parse(chunk)
    except (SyntaxError, ValueError):
        info = None
    else:
        node = tree.body[0] if len(tree.body) == 1 else None
        ok = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        info = describe(node, chunk) if ok else None  # type: ignore[arg-type]
    if len(_DEF_CACHE) > _CACHE_LIMIT:
        _DEF_CACHE.clear()
    _DEF_CACHE[chunk] = info
    return info


def extract_defs(code: str) -> list[FunctionInfo]:
    """Top-level function definitions of a code block (none if it does not parse).

    Fast path: each top-level def is cut out by indentation and parsed on its own, with a cache
    keyed by its text (the same helpers recur across thousands of trials). Anything unusual (a
    def that does not parse alone, say a multi-line string at column 0) falls back to parsing
    the whole block.
    """
    infos = []
    for chunk in _top_level_chunks(code):
        info = _describe_chunk(chunk)
        if info is None:
            return _extract_slow(code)
        infos.append(info)
    return infos


def _extract_slow(code: str) -> list[FunctionInfo]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    return [
        describe(node, code)
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def calls_in(code: str, names: Iterable[str]) -> dict[str, int]:
    """How often each of ``names`` is called in ``code``."""
    wanted = set(names)
    counts: dict[str, int] = {}
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return counts
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in wanted
        ):
            counts[node.func.id] = counts.get(node.func.id, 0) + 1
    return counts


@dataclass(frozen=True)
class BlockCode:
    """The code of one executed block with its trial's provenance (the miner's input)."""

    code: str
    provenance: Provenance


def pool(blocks: Iterable[BlockCode]) -> list[Candidate]:
    """Group every def of every block into candidates (identical source = one candidate)."""
    candidates: dict[str, Candidate] = {}
    for order, block in enumerate(blocks):
        for info in extract_defs(block.code):
            cand = candidates.get(info.skill_id)
            if cand is None:
                cand = candidates[info.skill_id] = Candidate(info, first_seen=order)
            cand.occurrences.append(block.provenance)
    return list(candidates.values())
