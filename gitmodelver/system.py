"""Systems in a repository (one per folder with a manifest) and snapshots of their state."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from gitmodelver import digest, manifest
from gitmodelver.errors import UsageError
from gitmodelver.manifest import Manifest
from gitmodelver.pins import Pin, compute, filled
from gitmodelver.repo import Repo
from gitmodelver.tree import Tree


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


def _name_of(repo: Repo, file: str) -> str:
    # A full load: an invalid manifest is reported with all its errors, and the parse is cached for reuse.
    return manifest.load_worktree(repo.root, file, repo.state_dir()).name


def discover(repo: Repo) -> list[System]:
    return [System(_name_of(repo, f), f) for f in _manifest_files(repo)]


def select(repo: Repo, name: str | None) -> System:
    files = _manifest_files(repo)
    if not files:
        raise UsageError(f"{repo.root}: no {manifest.FILENAME} here", fix="run `git modelver init`")
    if name is None and len(files) == 1:
        return System(_name_of(repo, files[0]), files[0])
    systems = [System(_name_of(repo, f), f) for f in files]
    if name is not None:
        for system in systems:
            if system.name == name:
                return system
        known = ", ".join(s.name for s in systems)
        raise UsageError(f"no system named '{name}' (known: {known})", fix="pass --system with one of those")
    here = repo.relative_cwd()
    inside = [s for s in systems if s.base and (here == s.base or here.startswith(s.base + "/"))]
    if len(inside) == 1:
        return inside[0]
    known = ", ".join(s.name for s in systems)
    raise UsageError(f"several systems here ({known})", fix="pass --system NAME")


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


def snapshot(tree: Tree, m: Manifest) -> Snapshot:
    return Snapshot(tree.label, m, compute(m.data, tree, m.base), tree)


def worktree_snapshot(repo: Repo, system: System) -> Snapshot:
    return snapshot(repo.worktree(), manifest.load_worktree(repo.root, system.file, repo.state_dir()))


def tree_snapshot(tree: Tree, system: System) -> Snapshot:
    m = manifest.load_tree(tree, system.file)
    if m is None:
        raise UsageError(f"{tree.label} has no {system.file}")
    return snapshot(tree, m)
