"""The layout guard: capability folders import only downwards, and no module imports itself in a circle.

Each folder's ``__init__`` says what it may import; ``ALLOWED`` is that rule as data.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gitmodelver"

# folder -> the folders it may import (besides itself, ``gitmodelver.errors``, ``gitmodelver.advice`` and
# the package root; every
# folder but the pure core may also print through ``gitmodelver.output``)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "gitstore": {"core"},
    "release": {"core", "gitstore"},
    "dvc": {"core", "gitstore", "release"},
    "guards": {"core", "gitstore", "release", "deploy", "attest"},
    "bisect": {"core", "gitstore", "release", "dvc"},
    "deploy": {"core", "gitstore", "release", "dvc"},
    "attest": {"core", "gitstore", "release", "dvc"},
    "audit": {"core", "gitstore", "release", "dvc", "guards", "bisect", "deploy", "attest"},
    "site": {"core", "gitstore", "release", "dvc", "guards", "bisect", "deploy", "audit", "attest"},
    "interop": {"core", "gitstore", "release", "dvc", "deploy"},
}
# errors and advice (how a fix is written as a command) go with every error, in every folder
NEUTRAL = {"gitmodelver", "gitmodelver.errors", "gitmodelver.advice"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_sources() -> dict[str, str]:
    return {module_name(p): p.read_text("utf-8") for p in sorted(PACKAGE.rglob("*.py"))}


def imports(source: str, modules: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of the package in ``source``, lazy and type-only ones included."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("gitmodelver"):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gitmodelver"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield node.lineno, sub if sub in modules else node.module


def folder_of(module: str) -> str | None:
    """The capability folder of a module; None for the top level (cli, commands, output, …)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in ALLOWED else None


def violations(modules: Mapping[str, str]) -> list[str]:
    """Imports against the direction of ``ALLOWED``: a folder reaching up, or into the top level."""
    found = []
    for name, source in modules.items():
        home = folder_of(name)
        if home is None:
            continue
        for line, target in imports(source, modules):
            there = folder_of(target)
            printing = target == "gitmodelver.output" and home != "core"
            if target in NEUTRAL or printing or there == home or there in ALLOWED[home]:
                continue
            found.append(
                f"{name}:{line} imports {target} ({home} may import {sorted(ALLOWED[home]) or 'none'})"
            )
    return found


def cycles(modules: Mapping[str, str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), i.e. import circles."""
    graph = {
        name: {t for _, t in imports(src, modules) if t in modules and t != name}
        for name, src in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for name in graph:
        if name not in index:
            visit(name)
    return found


def test_folders_import_only_downwards() -> None:
    assert violations(package_sources()) == []


def defined_names(source: str) -> set[str]:
    """Names a module binds at its top level, and what its ``__all__`` lists (lazy exports included)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
                names |= {e.value for e in getattr(node.value, "elts", []) if isinstance(e, ast.Constant)}
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def unresolved(modules: Mapping[str, str]) -> list[str]:
    """Imports of the package that name a module or a name that does not exist (a stale path)."""
    found = []
    for name, source in modules.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found += [
                    f"{name}:{node.lineno} {a.name}"
                    for a in node.names
                    if a.name.startswith("gitmodelver") and a.name not in modules
                ]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gitmodelver"):
                if node.module not in modules:
                    found.append(f"{name}:{node.lineno} {node.module}")
                    continue
                known = defined_names(modules[node.module])
                found += [
                    f"{name}:{node.lineno} {node.module}.{a.name}"
                    for a in node.names
                    if f"{node.module}.{a.name}" not in modules and a.name not in known
                ]
    return found


def test_every_import_of_the_package_resolves() -> None:
    assert unresolved(package_sources()) == []


def test_a_stale_import_is_caught() -> None:
    modules = package_sources()
    modules["gitmodelver.commands.hook"] += "\ndef f():\n    from gitmodelver import server\n"
    assert unresolved(modules) == [
        f"gitmodelver.commands.hook:{modules['gitmodelver.commands.hook'].count(chr(10))} gitmodelver.server"
    ]


def test_no_import_circle() -> None:
    # A package imports its own submodules' parents implicitly, never the other way: packages' __init__
    # files hold docstrings only, so any circle here is one between real modules.
    assert cycles(package_sources()) == []


def test_every_folder_is_a_known_capability() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders - {"commands", "demo_files"} == set(ALLOWED)


def test_small_folders() -> None:
    assert len(list(PACKAGE.glob("*.py"))) <= 8
    for folder in ALLOWED:  # modules, besides the package's own __init__
        assert len([p for p in (PACKAGE / folder).glob("*.py") if p.name != "__init__.py"]) <= 12, folder


UPWARD = [  # (module, source, the import named) — each against the arrows, one way or another
    ("gitmodelver.core.pins", "from gitmodelver.gitstore import system\n", "gitmodelver.gitstore.system"),
    ("gitmodelver.core.pins", "import gitmodelver.release.verify\n", "gitmodelver.release.verify"),
    ("gitmodelver.release.plan", "from gitmodelver.dvc.push import push_release\n", "gitmodelver.dvc.push"),
    ("gitmodelver.core.diff", "from gitmodelver import output\n", "gitmodelver.output"),
    ("gitmodelver.deploy.router", "from gitmodelver import cli\n", "gitmodelver.cli"),
    (
        "gitmodelver.guards.guard",
        "def f():\n    from gitmodelver.audit import bom\n",
        "gitmodelver.audit.bom",
    ),
    ("gitmodelver.dvc.push", "if TYPE_CHECKING:\n    from gitmodelver.bisect import probe\n", "bisect.probe"),
]


@pytest.mark.parametrize(("module", "source", "expected"), UPWARD)
def test_an_upward_import_is_caught(module: str, source: str, expected: str) -> None:
    modules = package_sources()
    modules[module] = source
    found = violations(modules)
    assert len(found) == 1 and expected in found[0], found


def test_a_circle_is_caught() -> None:
    modules = package_sources()
    modules["gitmodelver.core.semver"] += "\nfrom gitmodelver.core import diff\n"  # diff imports semver
    assert ["gitmodelver.core.diff", "gitmodelver.core.semver"] in cycles(modules)
