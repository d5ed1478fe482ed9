"""The API section of the prompt, generated from the functions themselves in CaP-X's format.

CaP-X's ``combined_doc``: for each function ``name(signature)`` with its full type annotations,
then (if it has a docstring) ``  Doc:`` and every docstring line indented by 4 spaces, with a
blank line between functions. Library skills use the same format so they read like API.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable


def _signature(fn: Callable) -> str:
    """``(position: numpy.ndarray, ...) -> numpy.ndarray``, as ``str(inspect.signature)`` of a
    bound method prints it in CaP-X (annotations evaluated, ``self`` left out)."""
    try:
        sig = inspect.signature(fn, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    return str(sig.replace(parameters=params))


def function_doc(name: str, fn: Callable) -> str:
    """One entry: signature line, then ``  Doc:`` and the docstring indented 4 spaces."""
    return entry_from_parts(name, _signature(fn), inspect.getdoc(fn) or "")


def entry_from_parts(name: str, signature: str, docstring: str) -> str:
    """The same format from text parts (for mined skills known only by their source)."""
    doc = inspect.cleandoc(docstring or "")
    lines = [f"{name}{signature}"]
    if doc:
        lines.append("  Doc:")
        lines += [f"    {line}" for line in doc.splitlines()]
    return "\n".join(lines)


def api_docs(functions: Iterable[tuple[str, Callable]]) -> str:
    """The whole API text: entries separated by a blank line."""
    return "\n\n".join(function_doc(name, fn) for name, fn in functions)


@functools.cache
def robot_api_docs(library: str | None = None) -> str:
    """Docs of the ten API functions, followed by a named library's helpers (e.g. ``curated9``)."""
    from engine.api.robot import API_NAMES, RobotAPI

    entries = [(name, getattr(RobotAPI, name)) for name in API_NAMES]
    if library:
        entries += [(fn.__name__, fn) for fn in library_functions(library)]
    return api_docs(entries)


def library_functions(name: str) -> tuple[Callable, ...]:
    """Built-in helper libraries by name."""
    from engine.api.curated9 import CURATED9
    from engine.errors import UserError

    libraries = {"curated9": CURATED9, "none": ()}
    if name not in libraries:
        raise UserError(f"unknown library {name!r} (known: {', '.join(sorted(libraries))})")
    return libraries[name]
