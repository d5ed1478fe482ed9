"""Call-sequence mining: recurring runs of API calls in successful trials' code, inline or not.

Once a library is dense the LLM stops writing ``def``s (saturation), so mining ``def``s runs dry;
the study's proposed next step is to mine the call sequences themselves. Here:

1. Every statement list of every executed block of every *successful* trial (the module body
   and the body of every ``def``, loop and branch, so code inside and outside functions alike)
   is cut into windows of 2..:data:`MAX_WINDOW` consecutive statements that start and end with
   a statement calling the robot API and hold at least two API calls.
2. A window's key is the shape of its statements with variable names and constants erased
   (API function names and attribute names kept) plus its data flow (which statement of the
   window feeds each name a statement reads, or "from outside"), so the same steps written
   with other variable names or other constants match.
3. A key found in at least ``min_trials`` distinct successful trials is a recurring sequence;
   longer ones win, and a shorter one all of whose occurrences lie inside a longer kept one is
   dropped.
4. Each becomes a **generated** candidate (named after its steps, ``seq_observe_then_segment``,
   with ``_2``, ``_3`` ... when a better-ranked one took the name): the first occurrence's
   statements as the body of a
   function whose parameters are the names it reads from outside, plus one parameter (with the
   most common value as its default) for every constant that varies between occurrences; it
   returns the names it assigns that its block used afterwards. Its docstring says it was
   generated and where from; its id starts with ``gen-``. It then goes through the same gates
   as every mined candidate, with reasons.
"""

from __future__ import annotations

import ast
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from engine.api.names import API_NAMES
from engine.skills.conditions import GENERATED_PREFIX
from engine.skills.mining import BUILTIN_NAMES, BlockCode, Candidate, Provenance, describe

MAX_WINDOW = 8
MIN_TRIALS = 3
MAX_GENERATED = 20
_API = frozenset(API_NAMES)
_MODULES = frozenset({"np", "numpy", "math"})
_BARRIERS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Import,
    ast.ImportFrom,
    ast.Return,
    ast.Break,
    ast.Continue,
    ast.Global,
    ast.Nonlocal,
)
"""Statements a generated function cannot hold (a window stops at them)."""


@dataclass(frozen=True)
class _Shape:
    """What a statement is, with names and constants erased (shared by equal statements)."""

    key: str
    stores: tuple[str, ...]
    loads: tuple[str, ...]
    api: tuple[str, ...]
    constants: tuple[float | int, ...]
    """Its numeric constants, in walk order."""


@dataclass(frozen=True)
class _Stmt:
    node: ast.stmt
    shape: _Shape

    @property
    def key(self) -> str:
        return self.shape.key

    @property
    def stores(self) -> tuple[str, ...]:
        return self.shape.stores

    @property
    def loads(self) -> tuple[str, ...]:
        return self.shape.loads

    @property
    def api(self) -> tuple[str, ...]:
        return self.shape.api


def _is_number(n: ast.AST) -> bool:
    return (
        isinstance(n, ast.Constant)
        and isinstance(n.value, int | float)
        and not isinstance(n.value, bool)
    )


def _shape(node: ast.stmt) -> _Shape:
    parts: list[str] = []
    stores: list[str] = []
    loads: list[str] = []
    api: list[str] = []
    constants: list[float | int] = []
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            if isinstance(n.ctx, ast.Load):
                if n.id in _API or n.id in _MODULES or n.id in BUILTIN_NAMES:
                    parts.append(n.id)
                    continue
                loads.append(n.id)
            else:
                stores.append(n.id)
            parts.append("N")
        elif isinstance(n, ast.Constant):
            if _is_number(n):
                constants.append(n.value)
                parts.append("C")
            else:
                parts.append(repr(n.value)[:40])
        elif isinstance(n, ast.Attribute):
            parts.append("." + n.attr)
        elif isinstance(n, ast.keyword):
            parts.append(f"kw:{n.arg}")
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _API:
            api.append(n.func.id)
            parts.append("call")
        elif not isinstance(n, ast.expr_context):
            parts.append(type(n).__name__)
    return _Shape(
        hashlib.sha1(" ".join(parts).encode()).hexdigest()[:12],
        tuple(dict.fromkeys(stores)),
        tuple(dict.fromkeys(loads)),
        tuple(api),
        tuple(constants),
    )


_SHAPES: dict[str, _Shape] = {}


def _stmt(node: ast.stmt, lines: list[str]) -> _Stmt:
    """A statement with its shape; one-line statements' shapes are cached by their text (the
    same lines recur across thousands of programs)."""
    if node.end_lineno != node.lineno:
        return _Stmt(node, _shape(node))
    text = lines[node.lineno - 1][node.col_offset : node.end_col_offset]
    shape = _SHAPES.get(text)
    if shape is None:
        if len(_SHAPES) > 200_000:
            _SHAPES.clear()
        shape = _SHAPES[text] = _shape(node)
    return _Stmt(node, shape)


def _statement_lists(body: list[ast.stmt], out: list[list[ast.stmt]]) -> list[list[ast.stmt]]:
    """``body`` and every statement list nested in it (defs, loops, branches, handlers)."""
    out.append(body)
    for node in body:
        for attr in ("body", "orelse", "finalbody"):
            nested = getattr(node, attr, None)
            if isinstance(nested, list) and nested and isinstance(nested[0], ast.stmt):
                _statement_lists(nested, out)
        for handler in getattr(node, "handlers", ()) or ():
            _statement_lists(handler.body, out)
    return out


@dataclass(frozen=True)
class _Occurrence:
    provenance: Provenance
    code_index: int
    list_index: int
    start: int
    stmts: tuple[_Stmt, ...]
    after_loads: frozenset[str]
    """Names the block reads after the window (which of its assignments it returns)."""


_CHUNKS: dict[str, tuple[list[_Stmt], list[list[_Stmt]]] | None] = {}
_CONTINUES = (")", "]", "}", "#", "else", "elif", "except", "finally", "@")


def _chunks(code: str) -> list[str]:
    """The text of each top-level statement, cut where a line starts at column 0 (a line that
    closes a bracket or continues a compound statement stays with its statement)."""
    out: list[list[str]] = []
    for line in code.splitlines():
        starts = bool(line) and not line[0].isspace() and not line.startswith(_CONTINUES)
        if starts and not (out and out[-1][-1].rstrip().endswith(("\\", ",", "(", "[", "{"))):
            out.append([line])
        elif out:
            out[-1].append(line)
        elif line.strip():
            out.append([line])
    return ["\n".join(c) for c in out]


def _chunk(text: str) -> tuple[list[_Stmt], list[list[_Stmt]]] | None:
    """(its top-level statements, the statement lists nested in them), cached by text: the
    same statements recur across thousands of programs, so each is parsed once."""
    if text in _CHUNKS:
        return _CHUNKS[text]
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        out = None
    else:
        lines = text.splitlines()
        lists = [[_stmt(s, lines) for s in body] for body in _statement_lists(tree.body, [])]
        out = (lists[0], lists[1:])
    if len(_CHUNKS) > 200_000:
        _CHUNKS.clear()
    _CHUNKS[text] = out
    return out


def _parsed(code: str) -> list[list[_Stmt]] | None:
    """Every statement list of a program (None if it does not parse)."""
    top: list[_Stmt] = []
    nested: list[list[_Stmt]] = []
    for text in _chunks(code):
        parts = _chunk(text)
        if parts is None:
            return _parsed_whole(code)
        top += parts[0]
        nested += parts[1]
    return [top, *nested]


def _parsed_whole(code: str) -> list[list[_Stmt]] | None:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    lines = code.splitlines()
    return [[_stmt(s, lines) for s in body] for body in _statement_lists(tree.body, [])]


def _window_key(stmts: tuple[_Stmt, ...]) -> str:
    flow = []
    for j, s in enumerate(stmts):
        for name in s.loads:
            src = next((i for i in range(j - 1, -1, -1) if name in stmts[i].stores), -1)
            flow.append(src)
    return "|".join(s.key for s in stmts) + "#" + ",".join(map(str, flow))


def recurring(
    blocks: Iterable[BlockCode], min_trials: int = MIN_TRIALS, max_window: int = MAX_WINDOW
) -> list[list[_Occurrence]]:
    """Occurrence groups of the recurring call sequences of successful trials, best first."""
    groups: dict[str, list[_Occurrence]] = defaultdict(list)
    for index, block in enumerate(blocks):
        if not block.provenance.trial_success:
            continue
        lists = _parsed(block.code)
        if not lists:
            continue
        for li, stmts in enumerate(lists):
            calls = [bool(s.api) for s in stmts]
            for start in range(len(stmts)):
                if not calls[start] or isinstance(stmts[start].node, _BARRIERS):
                    continue
                n_api = 0
                for end in range(start, min(len(stmts), start + max_window)):
                    if isinstance(stmts[end].node, _BARRIERS):
                        break
                    n_api += len(stmts[end].api)
                    if end == start or not calls[end] or n_api < 2:
                        continue
                    window = tuple(stmts[start : end + 1])
                    after = frozenset(n for s in stmts[end + 1 :] for n in s.loads)
                    groups[_window_key(window)].append(
                        _Occurrence(block.provenance, index, li, start, window, after)
                    )
    kept: list[list[_Occurrence]] = []
    covered: set[tuple[int, int, int]] = set()
    ranked = sorted(
        (g for g in groups.values() if len({o.provenance.trial_key for o in g}) >= min_trials),
        key=lambda g: (
            -len(g[0].stmts),
            -len({o.provenance.trial_key for o in g}),
            _window_key(g[0].stmts),
        ),
    )
    for g in ranked:
        spans = {(o.code_index, o.list_index, o.start + i) for o in g for i in range(len(o.stmts))}
        if spans <= covered:
            continue
        covered |= spans
        kept.append(g)
    return kept


def _name(api: Iterable[str]) -> str:
    short = {
        "get_observation": "observe",
        "point_prompt_molmo": "point",
        "segment_sam3_text_prompt": "segment",
        "segment_sam3_point_prompt": "segment_at",
        "plan_grasp": "plan_grasp",
        "get_oriented_bounding_box_from_3d_points": "fit_box",
        "solve_ik": "ik",
        "move_to_joints": "move",
        "open_gripper": "open",
        "close_gripper": "close",
    }
    steps: list[str] = []
    for a in api:
        word = short.get(a, a)
        if not steps or steps[-1] != word:
            steps.append(word)
    return "seq_" + "_then_".join(steps[:4])


class _Lift(ast.NodeTransformer):
    def __init__(self, replace: dict[int, str]) -> None:
        self.replace = replace

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        name = self.replace.get(id(node))
        return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node) if name else node


class GeneratedCandidate(Candidate):
    """A candidate autocapx wrote (its id starts with ``gen-``)."""

    @property
    def id(self) -> str:  # type: ignore[override]
        return GENERATED_PREFIX + self.info.skill_id


def generate(group: list[_Occurrence], taken: frozenset[str] = frozenset()) -> Candidate:
    """The generated candidate of one recurring sequence (see the module docstring)."""
    first = group[0]
    stmts = first.stmts
    columns = [[v for s in o.stmts for v in s.shape.constants] for o in group]
    by_position: dict[int, str] = {}
    defaults: list[tuple[str, object]] = []
    for i in range(len(columns[0])):
        values = [col[i] for col in columns if i < len(col)]
        if len(set(values)) > 1:
            name = f"value{len(defaults) + 1}"
            by_position[i] = name
            defaults.append((name, Counter(values).most_common(1)[0][0]))
    body = _lift_by_position(stmts, by_position)
    stored: set[str] = set()
    params: list[str] = []
    for s in stmts:
        for name in s.loads:
            if name not in stored and name not in params:
                params.append(name)
        stored |= set(s.stores)
    outputs = [
        n for n in dict.fromkeys(n for s in stmts for n in s.stores) if n in first.after_loads
    ]
    trials = sorted({o.provenance.trial_key for o in group})
    api = [a for s in stmts for a in s.api]
    doc = (
        f"Generated by autocapx (not written by an LLM): the API-call sequence "
        f"{' -> '.join(api)} recurs in {len(trials)} successful trials (first: "
        f"{first.provenance.trial_key} block {first.provenance.block})."
    )
    args = ", ".join(params + [f"{n}={v!r}" for n, v in defaults])
    name = base = _name(api)
    n = 1
    while name in taken:  # a library holds one function per name: keep them apart
        n += 1
        name = f"{base}_{n}"
    lines = [f"def {name}({args}):", f'    """{doc}"""']
    for stmt in body:
        lines += ["    " + line for line in ast.unparse(stmt).splitlines()]
    if outputs:
        lines.append("    return " + (outputs[0] if len(outputs) == 1 else ", ".join(outputs)))
    source = "\n".join(lines) + "\n"
    fn = ast.parse(source).body[0]
    info = describe(fn, source)  # type: ignore[arg-type]
    return GeneratedCandidate(info, [o.provenance for o in group], first.code_index)


def _lift_by_position(stmts: tuple[_Stmt, ...], by_position: dict[int, str]) -> list[ast.stmt]:
    """Copies of the statements with the numeric constants at the given walk positions (over
    the whole window) replaced by parameter names."""
    out = []
    position = 0
    for s in stmts:
        copy = ast.parse(ast.unparse(s.node)).body[0]
        mapping: dict[int, str] = {}
        for n in ast.walk(copy):
            if _is_number(n):
                if position in by_position:
                    mapping[id(n)] = by_position[position]
                position += 1
        out.append(_Lift(mapping).visit(copy))
    return out


def generated_candidates(
    blocks: Iterable[BlockCode], min_trials: int = MIN_TRIALS, limit: int = MAX_GENERATED
) -> list[Candidate]:
    """Generated candidates from the recurring call sequences of ``blocks`` (best first)."""
    out: list[Candidate] = []
    seen: set[str] = set()
    names: set[str] = set()
    for group in recurring(blocks, min_trials):
        g = generate(group, frozenset(names))
        if g.id in seen:
            continue
        seen.add(g.id)
        names.add(g.name)
        out.append(g)
        if len(out) >= limit:
            break
    return out
