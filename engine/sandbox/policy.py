"""Static policy for untrusted trial code: what may be imported, called and accessed.

A pure function over the AST, run before any code executes. It rejects imports outside the
allow-list, the builtins that reach the interpreter (exec, eval, compile, open, __import__ ...),
dunder attribute access (the usual route out of a sandbox, e.g.
``().__class__.__bases__[0].__subclasses__()``), frame/generator internals and numpy's file I/O.
It is the first of three layers: the worker also restricts builtins, hands out modules only as
read-only proxies, and installs an audit hook, so what this check cannot see (names computed at
run time) is still stopped. This layer exists for the message, the later ones for the guarantee.
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
        "__future__",
    }
)
"""Modules trial code may import (a submodule of an allowed module is allowed too)."""

BLOCKED_MODULES = frozenset({"numpy.ctypeslib", "numpy.f2py", "numpy.distutils", "numpy.testing"})
"""Submodules of allowed modules that stay off limits (native code, compilers, subprocesses)."""

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
        # modules that other modules carry as attributes (numpy.lib._npyio_impl.os, typing.sys ...)
        "os",
        "sys",
        "subprocess",
        "builtins",
        "importlib",
        "socket",
        "shutil",
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
    """May trial code import ``name``? (Private submodules such as ``numpy._core`` never.)"""
    return module_access(name) == "full"


def module_access(name: str) -> str | None:
    """How trial code may reach module ``name`` through imports and module attributes.

    ``"full"``: an allowed module or a public submodule of one; ``"path"``: only as a step towards
    an allowed submodule (``scipy`` on the way to ``scipy.spatial``, nothing else of it);
    ``None``: not at all.
    """
    if name == "__future__":
        return "full"
    parts = name.split(".")
    if any(p.startswith("_") for p in parts) or any(
        name == b or name.startswith(b + ".") for b in BLOCKED_MODULES
    ):
        return None
    if any(".".join(parts[: i + 1]) in ALLOWED_MODULES for i in range(len(parts))):
        return "full"
    if any(m.startswith(name + ".") for m in ALLOWED_MODULES):
        return "path"
    return None


def attribute_problem(name: object) -> str | None:
    """Why trial code may not read attribute ``name`` at run time (``None``: it may).

    Used by the guarded ``getattr``/``hasattr`` and the module proxies, i.e. for names the AST
    check never saw: interpreter internals, private names, frames/code, file and FFI access.
    """
    if not isinstance(name, str):
        return f"attribute names must be strings, not {type(name).__name__}"
    if name.startswith("_"):
        return f"access to {name!r} is not allowed (private or interpreter internal)"
    if name in FORBIDDEN_ATTRS:
        return f"access to {name!r} is not allowed (file, frame or FFI access)"
    return None


def _allowed_list() -> str:
    tops = sorted(m for m in ALLOWED_MODULES if m != "__future__")
    return ", ".join(tops)


class _Checker:
    """Judges one node at a time; the tree is walked iteratively so that a deeply nested
    expression cannot overflow the checker's own stack."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []

    def _add(self, node: ast.AST, reason: str) -> None:
        self.violations.append(Violation(getattr(node, "lineno", 0), reason))

    def check(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            method = getattr(self, "visit_" + type(node).__name__, None)
            if method is not None:
                method(node)
        self.violations.sort(key=lambda v: v.line)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not module_allowed(alias.name):
                self._add(
                    node, f"import of {alias.name!r} is not allowed (allowed: {_allowed_list()})"
                )

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        names = [a.name for a in node.names if a.name != "*"]
        reachable = (
            module_access(module) == "path"
            and names
            and all(module_allowed(f"{module}.{n}") for n in names)
        )
        if node.level or not (module_allowed(module) or reachable):
            self._add(
                node, f"import from {module or '.'!r} is not allowed (allowed: {_allowed_list()})"
            )
        for name in names:
            if name.startswith("_") or name in FORBIDDEN_ATTRS:
                self._add(node, f"importing {name!r} is not allowed")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES:
            self._add(node, f"use of {node.id!r} is not allowed")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("__") and attr.endswith("__"):
            self._add(node, f"access to the dunder attribute {attr!r} is not allowed")
        elif attr in FORBIDDEN_ATTRS:
            self._add(node, f"access to {attr!r} is not allowed (file, frame or FFI access)")
        elif attr.startswith("_") and not (
            isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
        ):
            # private members of other objects: numpy.lib._npyio_impl.os, random._os ...
            self._add(node, f"access to the private attribute {attr!r} is not allowed")

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            self._add(node, f"calling {node.func.id}() is not allowed")
        if (
            isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
        ):
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                if name.value.startswith("_") or name.value in FORBIDDEN_ATTRS:
                    self._add(node, f"{node.func.id} of {name.value!r} is not allowed")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        name = node.name
        if name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDER_METHODS:
            self._add(node, f"defining the special method {name!r} is not allowed")

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


def check_source(source: str, filename: str = "<block>") -> list[Violation]:
    """Policy violations in ``source`` (empty list = allowed), in line order.

    Code that does not parse (a syntax error, null bytes, nesting too deep for the parser) is not
    a violation: it gets an empty list here and its own error when the worker compiles it.
    """
    try:
        tree = ast.parse(source, filename=filename)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    checker = _Checker()
    checker.check(tree)
    return checker.violations
