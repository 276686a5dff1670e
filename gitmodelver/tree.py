"""Read files of one state of the repository: the working tree or a commit (no checkout)."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Protocol

import pygit2


class Tree(Protocol):
    """A read-only view of repository files by repo-relative POSIX path."""

    label: str

    def read(self, path: str) -> bytes | None: ...

    def exists(self, path: str) -> bool: ...


class WorkTree:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = "WORKTREE"

    def read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def exists(self, path: str) -> bool:
        return (self.root / path).exists()


class CommitTree:
    def __init__(self, repo: pygit2.Repository, commit: pygit2.Commit, label: str) -> None:
        self.repo = repo
        self.tree = commit.tree
        self.label = label

    def _entry(self, path: str) -> pygit2.Object | None:
        try:
            return self.tree[path]
        except KeyError:
            return None

    def read(self, path: str) -> bytes | None:
        entry = self._entry(path)
        if entry is None or entry.type_str != "blob":
            return None
        blob = self.repo[entry.id]
        return blob.data if isinstance(blob, pygit2.Blob) else None

    def exists(self, path: str) -> bool:
        return self._entry(path) is not None


def join(base: str, target: str) -> str:
    """A reference's repo-relative path: ``target`` taken relative to the folder ``base``."""
    joined = posixpath.normpath(posixpath.join(base, target)) if base else posixpath.normpath(target)
    return "" if joined == "." else joined


def relpath(path: str, base: str) -> str:
    return posixpath.relpath(path, base or ".")


def to_posix(path: str) -> str:
    return path.replace(os.sep, "/")


class IndexTree:
    """The staged state: blobs as they are in the index, which is what a commit will hold."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self.index = repo.index
        self.label = "INDEX"

    def read(self, path: str) -> bytes | None:
        try:
            entry = self.index[path]
        except KeyError:
            return None
        blob = self.repo[entry.id]
        return blob.data if isinstance(blob, pygit2.Blob) else None

    def exists(self, path: str) -> bool:
        return path in self.index
