"""Systems in a repository (one per folder with a manifest) and snapshots of their state."""

from __future__ import annotations

import posixpath
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pygit2

from gitmodelver.core import digest, manifest
from gitmodelver.core.filerefs import Tree
from gitmodelver.core.manifest import Manifest
from gitmodelver.core.pins import Pin, compute, filled, locked_text
from gitmodelver.errors import UnknownVersion, UsageError
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tree import CommitTree


@dataclass(frozen=True)
class System:
    name: str
    file: str  # repo-relative path of its manifest

    @property
    def base(self) -> str:
        return posixpath.dirname(self.file)


def _manifest_files(repo: Repo) -> list[str]:
    files = {e.path for e in repo.git.index if posixpath.basename(e.path) == manifest.FILENAME}
    # A manifest `init` just wrote is not tracked yet; look where the user stands.
    for folder in {"", repo.relative_cwd()}:
        candidate = posixpath.join(folder, manifest.FILENAME) if folder else manifest.FILENAME
        if (repo.root / candidate).is_file():
            files.add(candidate)
    return sorted(files)


# --------------------------------------------------------------------------- names, read cheaply


def read_toml(raw: bytes | None) -> dict[str, Any] | None:
    """A manifest's data as tomllib reads it, unvalidated; None when it is missing or not TOML."""
    try:
        return _toml(raw)
    except ValueError:
        return None


def _toml(raw: bytes | None) -> dict[str, Any] | None:
    """tomllib's reading; ValueError says why the bytes are not a TOML document."""
    if raw is None:
        return None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(str(exc)) from exc
    except RecursionError as exc:  # tomllib recurses into inline arrays and tables
        raise ValueError("nested too deeply for the TOML reader") from exc


def name_in(data: Mapping[str, Any] | None) -> str | None:
    """``system.name`` of unvalidated manifest data, if it has a usable one."""
    table = data.get("system") if data is not None else None
    name = table.get("name") if isinstance(table, Mapping) else None
    return name if isinstance(name, str) and name else None


@dataclass(frozen=True)
class _Peek:
    """A worktree manifest read only as far as its name: discovery must not validate every system."""

    file: str
    name: str | None  # None: it cannot be read, or names no system
    problem: str = ""  # why there is no name

    @property
    def system(self) -> System:
        assert self.name is not None
        return System(self.name, self.file)

    def __str__(self) -> str:
        return self.name if self.name is not None else f"{self.file} (unreadable: {self.problem})"


def _peek(repo: Repo, file: str) -> _Peek:
    try:
        data = _toml((repo.root / file).read_bytes())
    except (OSError, ValueError) as exc:
        return _Peek(file, None, str(exc))
    name = name_in(data)
    return _Peek(file, name, "" if name is not None else "no system.name")


def _full(repo: Repo, file: str) -> System:
    # A full load: an invalid manifest is reported with all its errors, and the parse is cached for reuse.
    return System(manifest.load_worktree(repo.root, file, repo.state_dir()).name, file)


# --------------------------------------------------------------------------- choosing systems


def discover(repo: Repo) -> list[System]:
    """Every system here, by the name its manifest gives; manifests that cannot be read are skipped."""
    return [p.system for p in (_peek(repo, f) for f in _manifest_files(repo)) if p.name is not None]


def _implied(repo: Repo, files: list[str]) -> str | None:
    """The manifest meant when no system is named: the only one, or the one whose folder we are in."""
    if len(files) == 1:
        return files[0]
    here = repo.relative_cwd()
    inside = [
        f for f in files if (base := posixpath.dirname(f)) and (here == base or here.startswith(base + "/"))
    ]
    return inside[0] if len(inside) == 1 else None


def _files(repo: Repo) -> list[str]:
    files = _manifest_files(repo)
    if not files:
        raise UsageError(f"{repo.root}: no {manifest.FILENAME} here", fix="git modelver init")
    return files


def select(repo: Repo, name: str | None) -> System:
    """The system a command acts on: the one named, the only one, or the one whose folder we are in.

    Only the selected manifest is validated; the others are read as far as their names, so one broken
    manifest does not block every other system (it is reported when it could be the one meant).
    """
    files = _files(repo)
    implied = _implied(repo, files) if name is None else None
    if implied is not None:
        return _full(repo, implied)
    peeks = [_peek(repo, f) for f in files]
    if name is not None:
        return _named(repo, peeks, name)
    readable = [p for p in peeks if p.name is not None]
    if len(readable) == 1:
        return _full(repo, readable[0].file)
    if not readable:
        return _full(repo, files[0])  # raises: say what is wrong with it
    raise UsageError(
        f"several systems here ({_known(peeks)}): pass --system with one of their names, or run the "
        "command in its folder"
    )


def _named(repo: Repo, peeks: list[_Peek], name: str) -> System:
    for peek in peeks:
        if peek.name == name:
            return _full(repo, peek.file)
    raise UsageError(f"no system named '{name}' (known: {_known(peeks)}): pass --system with one of those")


def _known(peeks: list[_Peek]) -> str:
    return ", ".join(str(p) for p in sorted(peeks, key=lambda p: p.name is None))


def select_all(repo: Repo, name: str | None) -> list[System]:
    """The systems a command that reads every system covers: the one named or implied, else all of them."""
    if name is not None:
        return [select(repo, name)]
    files = _files(repo)
    implied = _implied(repo, files)
    if implied is not None:
        return [_full(repo, implied)]
    return discover(repo) or [select(repo, None)]


# --------------------------------------------------------------------------- systems in a commit


def manifest_paths(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = "") -> Iterator[str]:
    """Every manifest in a commit's tree, shallowest first (the usual place is the root)."""
    subtrees = []
    for entry in tree:
        if entry.type_str == "tree":
            subtrees.append(entry)
        elif entry.name == manifest.FILENAME:
            yield prefix + manifest.FILENAME
    for entry in subtrees:
        sub = repo[entry.id]
        if isinstance(sub, pygit2.Tree):
            yield from manifest_paths(repo, sub, f"{prefix}{entry.name}/")


def in_tree(repo: Repo, tree: CommitTree, name: str) -> tuple[System, dict[str, Any]] | None:
    """The system called ``name`` in a commit, with its manifest's data as tomllib reads it."""
    for file in manifest_paths(repo.git, tree.tree):
        data = read_toml(tree.read(file))
        if data is not None and name_in(data) == name:
            return System(name, file), data
    return None


def of_release(repo: Repo, name: str, commit: pygit2.Commit, label: str) -> System:
    """System ``name`` where ``commit`` (a release) holds its manifest, which may have moved since."""
    tree = CommitTree(repo.git, commit, label)
    current = next((s for s in discover(repo) if s.name == name), None) if not repo.bare else None
    if current is not None and name_in(read_toml(tree.read(current.file))) == name:
        return current  # the usual case: one blob read
    found = in_tree(repo, tree, name)
    if found is not None:
        return found[0]
    if current is not None:
        return current  # verify says what is wrong with the release
    raise UnknownVersion(f"{label}: its commit has no {manifest.FILENAME} of {name}")


@dataclass(frozen=True)
class Snapshot:
    """One state of a system: its manifest as read, and as it is with every pin filled in."""

    label: str
    manifest: Manifest
    pins: list[Pin]
    tree: Tree

    @cached_property
    def data(self) -> dict[str, Any]:
        return filled(self.manifest.data, self.pins)

    @property
    def state(self) -> str:
        return digest.state_digest(self.data)

    @property
    def version_digest(self) -> str:
        return digest.version_digest(self.data)

    @property
    def stale(self) -> list[Pin]:
        return [p for p in self.pins if p.stale]

    @property
    def missing(self) -> list[Pin]:
        return [p for p in self.pins if p.missing]

    def locked_text(self, version: str | None = None) -> str:
        """The manifest's text with every pin current (and ``system.version`` set, when given)."""
        return locked_text(self.manifest, self.pins, version)


def snapshot(tree: Tree, m: Manifest) -> Snapshot:
    return Snapshot(tree.label, m, compute(m.data, tree, m.base), tree)


def worktree_snapshot(repo: Repo, system: System) -> Snapshot:
    return snapshot(repo.worktree(), manifest.load_worktree(repo.root, system.file, repo.state_dir()))


def tree_snapshot(tree: Tree, system: System) -> Snapshot:
    m = manifest.load_tree(tree, system.file)
    if m is None:
        raise UsageError(f"{tree.label} has no {system.file}")
    return snapshot(tree, m)
