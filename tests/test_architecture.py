"""The seams between packages, checked on the source (so a change that breaks one fails here,
with the file and line, before it turns into a bug somewhere else).

- no import cycle between engine packages, counting imports inside functions;
- no SQL and no SQLite connection outside ``engine/store``: the store's API is the contract;
- the console uses only the engine's public surface (events, the reader, session lookup);
- the executor protocol imports nothing of the engine;
- events are typed: nothing writes or filters them by a string kind.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQL = re.compile(
    r"\b(SELECT\s+.+\s+FROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE|PRAGMA\s+\w+)",
    re.S,
)
CONSOLE_MAY_IMPORT = {
    "engine.errors",
    "engine.events",
    "engine.invocation",
    "engine.stats.curves",
    "engine.skills.evidence",
    "engine.skills.evolution",
    "engine.stats.ending",
    "engine.stats.live",
    "engine.stats.summary",
    "engine.store.liveness",
    "engine.store.reader",
    "engine.store.sessions",
    "engine.store.trial_query",
}


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, int]]:
    """Every module ``path`` imports (top level and inside functions), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return found


def package_of(module: str) -> str:
    """engine.sweep.runner -> engine.sweep; engine.config -> engine.config."""
    return ".".join(module.split(".")[:2])


def engine_modules() -> set[str]:
    return {module_name(p) for p in python_files("engine")}


def test_no_import_cycle_between_engine_packages() -> None:
    known = engine_modules()
    graph: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    for path in python_files("engine"):
        source = package_of(module_name(path))
        for target, line in imports(path):
            if target not in known:
                continue  # a name imported from a module, or not ours
            dest = package_of(target)
            if dest != source:
                graph[source].add(dest)
                where.setdefault((source, dest), f"{path.relative_to(ROOT)}:{line}")

    def reaches(start: str, goal: str, seen: set[str]) -> list[str] | None:
        for nxt in sorted(graph[start]):
            if nxt == goal:
                return [start, nxt]
            if nxt not in seen:
                seen.add(nxt)
                rest = reaches(nxt, goal, seen)
                if rest:
                    return [start, *rest]
        return None

    cycles = []
    for package in sorted(graph):
        path = reaches(package, package, set())
        if path:
            cycles.append(
                " -> ".join(path)
                + "  ("
                + ", ".join(where[e] for e in zip(path, path[1:], strict=False))
                + ")"
            )
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_sql_outside_the_store() -> None:
    offences = []
    for path in python_files("engine", "autocapx_tui", "bench", "examples"):
        if path.is_relative_to(ROOT / "engine" / "store"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if SQL.search(node.value):
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: SQL")
        for module, line in imports(path):
            if module in ("sqlite3", "sqlite_utils") or module.startswith("sqlite_utils."):
                offences.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert not offences, "\n".join(offences)


def test_the_sql_detector_finds_sql() -> None:
    assert SQL.search("SELECT trial_key FROM trials WHERE status = 'done'")
    assert SQL.search("INSERT OR REPLACE INTO blocks (a) VALUES (?)")
    assert SQL.search("PRAGMA user_version")
    assert not SQL.search("Select the skill in the library pane first")


def test_the_console_uses_only_the_public_engine_surface() -> None:
    known = engine_modules()
    offences = []
    for path in python_files("autocapx_tui"):
        for module, line in imports(path):
            if module.startswith("engine") and module in known:
                if module not in CONSOLE_MAY_IMPORT:
                    offences.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert not offences, "the console reaches into the engine:\n" + "\n".join(offences)


def test_the_engine_never_imports_the_console() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in python_files("engine")
        for module, line in imports(path)
        if module.startswith("autocapx_tui")
    ]
    assert not offences


def test_the_executor_protocol_imports_nothing_of_the_engine() -> None:
    """Nothing but ``WorkerLost`` from :mod:`engine.errors`, a leaf that imports nothing itself.

    ``WorkerLost`` is raised on both sides of the executor line: by executors (a Ray actor lost)
    and by the trial's sandbox (its worker killed from outside, engine.sandbox.worker), which
    must not import engine.executors (that imports engine.trial). So it lives in the leaf
    module and the protocol re-exports it; anything more would tie the protocol to the engine."""
    base = ROOT / "engine" / "executors" / "base.py"
    engine_imports = {m for m, _ in imports(base) if m.startswith("engine")}
    assert engine_imports == {"engine.errors", "engine.errors.WorkerLost"}
    errors = ROOT / "engine" / "errors.py"
    assert [m for m, _ in imports(errors) if m.startswith("engine")] == [], "a leaf module"


def test_events_are_written_and_filtered_by_type_not_by_string() -> None:
    offences = []
    for path in python_files("engine", "autocapx_tui", "bench"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "event" and node.args and isinstance(node.args[0], ast.Constant):
                offences.append(
                    f"{path.relative_to(ROOT)}:{node.lineno}: event({node.args[0].value!r})"
                )
            for kw in node.keywords:
                if kw.arg == "kinds" and isinstance(kw.value, (ast.Tuple, ast.List)):
                    if any(isinstance(e, ast.Constant) for e in kw.value.elts):
                        offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: kinds=(strings)")
    assert not offences, "\n".join(offences)
