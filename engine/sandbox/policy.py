"""Static policy for untrusted trial code: what may be imported, called and accessed.

A pure function over the AST, run before any code executes. It rejects imports outside the
allow-list, the builtins that reach the interpreter (exec, eval, compile, open, __import__ ...),
dunder attribute access (the usual route out of a sandbox, e.g.
``().__class__.__bases__[0].__subclasses__()``), frame/generator internals and numpy's file I/O.
It is the first of three layers: the worker also restricts builtins and installs an audit hook,
so what this check cannot see (names computed at run time) is still stopped.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

ALLOWED_MODULES = frozenset(
    {
        "numpy",
        "math",
        "cmath",
        "random",
        "itertools",
        "functools",
        "collections",
        "typing",
        "dataclasses",
        "copy",
        "heapq",
        "bisect",
        "statistics",
        "json",
        "re",
        "time",
        "enum",
        "scipy.spatial",
        "scipy.spatial.transform",
        "scipy.linalg",
        "scipy.optimize",
        "scipy.ndimage",
        "scipy.interpolate",
    }
)
"""Modules trial code may import (a submodule of an allowed module is allowed too)."""

FORBIDDEN_CALLS = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "open",
        "__import__",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "help",
        "memoryview",
        "setattr",
        "delattr",
    }
)

FORBIDDEN_NAMES = frozenset({"__builtins__", "__import__", "__loader__", "__spec__", "__file__"})

FORBIDDEN_ATTRS = frozenset(
    {
        # frames, code objects and generator internals lead to globals/builtins of other modules
        "gi_frame",
        "gi_code",
        "cr_frame",
        "ag_frame",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "mro",
        # numpy / scipy file and foreign-function access
        "tofile",
        "fromfile",
        "save",
        "savez",
        "savez_compressed",
        "savetxt",
        "load",
        "loadtxt",
        "genfromtxt",
        "fromregex",
        "memmap",
        "DataSource",
        "ctypeslib",
        "ctypes",
        "f2py",
        "distutils",
        "testing",
    }
)


ALLOWED_DUNDER_METHODS = frozenset(
    {
        "__init__",
        "__post_init__",
        "__repr__",
        "__str__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__len__",
        "__iter__",
        "__next__",
        "__getitem__",
        "__contains__",
        "__call__",
        "__enter__",
        "__exit__",
        "__add__",
        "__sub__",
        "__mul__",
        "__truediv__",
        "__neg__",
        "__bool__",
    }
)
"""Special methods a trial class may define; others (``__array__``, ``__getattr__``, ``__del__``,
``__reduce__`` ...) would let trial code run inside library calls or reach interpreter internals."""


@dataclass(frozen=True)
class Violation:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def module_allowed(name: str) -> bool:
    parts = name.split(".")
    return any(".".join(parts[: i + 1]) in ALLOWED_MODULES for i in range(len(parts)))


def _allowed_list() -> str:
    tops = sorted({m for m in ALLOWED_MODULES})
    return ", ".join(tops)


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.violations: list[Violation] = []

    def _add(self, node: ast.AST, reason: str) -> None:
        self.violations.append(Violation(getattr(node, "lineno", 0), reason))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not module_allowed(alias.name):
                self._add(
                    node, f"import of {alias.name!r} is not allowed (allowed: {_allowed_list()})"
                )
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not module_allowed(module):
            self._add(
                node, f"import from {module or '.'!r} is not allowed (allowed: {_allowed_list()})"
            )
        for alias in node.names:
            if alias.name in FORBIDDEN_ATTRS or alias.name.startswith("__"):
                self._add(node, f"importing {alias.name!r} is not allowed")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES:
            self._add(node, f"use of {node.id!r} is not allowed")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("__") and node.attr.endswith("__"):
            self._add(node, f"access to the dunder attribute {node.attr!r} is not allowed")
        elif node.attr in FORBIDDEN_ATTRS:
            self._add(node, f"access to {node.attr!r} is not allowed (file, frame or FFI access)")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            self._add(node, f"calling {node.func.id}() is not allowed")
        if isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2:
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                if name.value.startswith("_") or name.value in FORBIDDEN_ATTRS:
                    self._add(node, f"getattr of {name.value!r} is not allowed")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        name = node.name
        if name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDER_METHODS:
            self._add(node, f"defining the special method {name!r} is not allowed")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if (
            isinstance(value, str)
            and value.startswith("__")
            and value.endswith("__")
            and value not in ("__main__",)
            and value not in ALLOWED_DUNDER_METHODS
        ):
            self._add(node, f"the string {value!r} names an interpreter internal")

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name in FORBIDDEN_NAMES:
                self._add(node, f"use of {name!r} is not allowed")
        self.generic_visit(node)


def check_source(source: str, filename: str = "<block>") -> list[Violation]:
    """Policy violations in ``source`` (empty list = allowed). A syntax error is not a violation."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError:
        return []
    checker = _Checker()
    checker.visit(tree)
    return checker.violations
