"""The package layout rules, read from the source: no import cycles, and store wings that match.

The import graph is read with :mod:`ast` from every module under ``src/tmem``, counting imports
inside functions too (a lazy import is still a dependency). Run ``python -m tests.test_layout``
to print the graph's strongly connected components.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "tmem"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop]
    return ".".join([*base, node.module] if node.module else base)


def _targets(importer: str, path: Path, known: set[str]) -> Iterator[str]:
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(importer, is_package, node)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != importer:
                yield name


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    graph = {name: set(_targets(name, path, known)) for name, path in found.items()}
    # A package's __init__ importing its own submodules is how packages export names, not a cycle.
    for name, targets in graph.items():
        if found[name].name == "__init__.py":
            graph[name] = {t for t in targets if not t.startswith(name + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    assert "tmem.memory" in graph
    assert graph["tmem.memory"], "tmem.memory imports nothing? the reader is broken"
    # ``tmem serve`` imports the web app inside the command, so the server extra stays optional
    assert "tmem.server.app" in graph["tmem.cli.serve"]


def test_cycle_finder_finds_a_planted_cycle() -> None:
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(planted) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


WING_ONLY = {"postgres": {"bulk.py"}}
"""Modules one wing has and the other need not: Postgres's ``COPY`` bulk load has no SQLite twin."""


@pytest.mark.parametrize("wing", ["postgres"])
def test_store_wings_have_the_same_modules(wing: str) -> None:
    sqlite = {path.name for path in (PACKAGE / "store" / "sqlite").glob("*.py")}
    other = {path.name for path in (PACKAGE / "store" / wing).glob("*.py")}
    assert sqlite, "no SQLite wing"
    assert WING_ONLY[wing] <= other, "a wing-only module is gone: update WING_ONLY"
    assert sqlite == other - WING_ONLY[wing]


if __name__ == "__main__":
    for component in cycles(import_graph()):
        print(" <-> ".join(component))
