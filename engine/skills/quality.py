"""Quality score and deduplication of candidate skills.

Quality (0..1), used to rank skills for the quality-gated and top-k conditions:

    quality = 0.35 * has_docstring
            + 0.35 * success_rate           (of the trials the skill appeared in)
            + 0.15 * min(trials / 5, 1)     (how often LLMs wrote it)
            + 0.15 * size_fit               (1 for 4..30 lines, falling off to 0 outside 2..60)

A docstring and a success record dominate because they are what made skills get called and
help in the study; frequency and a reasonable size break ties.

Dedup strategies: ``none``; ``structural`` (hash of the AST with identifiers, constants and
docstrings normalised; one survivor per cluster chosen by a survivor rule); ``top_k`` (the k
best by quality).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Callable

from engine.skills.mining import Candidate


def size_fit(lines: int) -> float:
    if 4 <= lines <= 30:
        return 1.0
    if lines < 4:
        return max(0.0, (lines - 2) / 2)
    return max(0.0, 1.0 - (lines - 30) / 30)


def quality(c: Candidate) -> float:
    score = (
        0.35 * c.has_docstring
        + 0.35 * c.success_rate
        + 0.15 * min(c.n_trials / 5, 1.0)
        + 0.15 * size_fit(c.info.lines)
    )
    return round(score, 4)


class _Normalise(ast.NodeTransformer):
    """Identifiers become their order of first appearance; constants become their type."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _id(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Name(id=self._id(node.id), ctx=node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._id(node.arg)
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = "f"
        if (
            node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(getattr(node.body[0], "value", None), ast.Constant)
            and isinstance(node.body[0].value.value, str)
        ):
            node.body = node.body[1:] or [ast.Pass()]
        self.generic_visit(node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        return node  # attribute names (np.linalg.norm) are part of the structure

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.copy_location(ast.Constant(value=type(node.value).__name__), node)


def structural_hash(source: str) -> str:
    """Same hash for functions that differ only in names, constants and docstrings."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "unparseable-" + hashlib.sha256(source.encode()).hexdigest()[:8]
    normalised = _Normalise().visit(tree)
    return hashlib.sha256(ast.dump(normalised, annotate_fields=False).encode()).hexdigest()[:12]


SurvivorRule = Callable[[Candidate], tuple]

SURVIVOR_RULES: dict[str, SurvivorRule] = {
    # The study's dedup kept the first variant it met; that can drop the documented one.
    "first_seen": lambda c: (c.first_seen, c.name),
    # The proposed rule: documented first, then the better success record, then by name.
    "docstring_success_name": lambda c: (not c.has_docstring, -c.success_rate, c.name),
}


def dedup_structural(candidates: list[Candidate], rule: str = "first_seen") -> list[Candidate]:
    """One survivor per structural-hash cluster, chosen by ``rule``; order of survivors kept."""
    key = SURVIVOR_RULES[rule]
    clusters: dict[str, list[Candidate]] = {}
    for c in candidates:
        clusters.setdefault(structural_hash(c.info.source), []).append(c)
    survivors = {min(group, key=key).id for group in clusters.values()}
    return [c for c in candidates if c.id in survivors]


def rank(c: Candidate) -> tuple:
    """Sort key, best first: quality, then more trials, then name, then id (a total order)."""
    return (-quality(c), -c.n_trials, c.name, c.id)


def top_k(candidates: list[Candidate], k: int) -> list[Candidate]:
    """The k best by :func:`rank`."""
    return sorted(candidates, key=rank)[:k]


def unique_names(candidates: list[Candidate]) -> list[Candidate]:
    """A library can hold one function per name: keep the best-ranked variant of each name."""
    best: dict[str, Candidate] = {}
    for c in sorted(candidates, key=rank):
        best.setdefault(c.name, c)
    return [c for c in candidates if best.get(c.name) is c]
