"""File references inside a manifest: tables with ``path`` (a Git file), ``dvc`` (a DVC output) or
``params`` (keys of a DVC params file), and the read-only ``Tree`` of repository files they resolve in."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gitmodelver.core import tomltext

# Sections that describe how we release and deploy; everything else is a component (SPEC §2).
NON_COMPONENTS = frozenset({"system", "policy", "rollout", "promotion"})


@dataclass(frozen=True)
class FileRef:
    """One file reference: where it sits in the manifest and what it points at."""

    key: tuple[str, ...]  # e.g. ("prompts", "system") or ("retrieval", "index")
    kind: str  # "path", "dvc" or "params"
    target: str  # the path as written, relative to the manifest's folder
    pin: Any  # the recorded sha256 / md5 (a string), or params values (a table); None when absent
    keys: tuple[str, ...] | None = None  # params: the DVC keys taken from the file (None: all)

    @property
    def dotted(self) -> str:
        return ".".join(self.key)

    @property
    def pin_field(self) -> str:
        return pin_field(self.kind)

    @property
    def pin_path(self) -> str:
        return f"{self.dotted}.{self.pin_field}"


PIN_FIELDS = {"path": "sha256", "dvc": "md5", "params": "values"}


def pin_field(kind: str) -> str:
    return PIN_FIELDS[kind]


def ref_kind(table: Mapping[str, Any]) -> str | None:
    """The kind of file reference a table is, or None when it is not one."""
    if isinstance(table.get("params"), str):
        return "params"
    if isinstance(table.get("path"), str):
        return "path"
    if isinstance(table.get("dvc"), str):
        return "dvc"
    return None


def iter_file_refs(data: Mapping[str, Any]) -> Iterator[FileRef]:
    """Every file reference in the components, in document order."""
    for section, value in data.items():
        if section in NON_COMPONENTS or not _table(value):
            continue
        yield from tomltext.kept(_REFS, value, section, _section_refs)


_REFS: tomltext.Memo[tuple[FileRef, ...]] = {}  # by shared table, under its section's name


def _section_refs(table: Mapping[str, Any], section: str) -> tuple[FileRef, ...]:
    return tuple(_walk(table, (section,)))


def _table(value: Any) -> bool:
    """A TOML table: a dict nearly always, told apart without the abstract-class check."""
    return type(value) is dict or (type(value) not in _SCALARS and isinstance(value, Mapping))


_SCALARS = frozenset({str, int, float, bool, list, type(None)})


def _walk(table: Mapping[str, Any], key: tuple[str, ...]) -> Iterator[FileRef]:
    kind = ref_kind(table)
    if kind == "params":
        values, keys = table.get("values"), table.get("keys")
        chosen = tuple(str(k) for k in keys) if isinstance(keys, list) else None
        yield FileRef(key, kind, table[kind], values if isinstance(values, Mapping) else None, chosen)
        # other tables beside the pinned values may be references of their own (a second params file)
        for name, value in table.items():
            if name != "values" and _table(value):
                yield from _walk(value, (*key, name))
        return
    if kind is not None:
        pin = table.get(pin_field(kind))
        yield FileRef(key, kind, table[kind], pin if isinstance(pin, str) else None)
        return
    for name, value in table.items():
        if _table(value):
            yield from _walk(value, (*key, name))


class Tree(Protocol):
    """A read-only view of repository files by repo-relative POSIX path."""

    label: str

    def read(self, path: str) -> bytes | None: ...

    def blob(self, path: str) -> bytes | None:
        """The bytes Git stores (or would store) for ``path``: what pins of ``path`` references hash."""
        ...

    def sha256(self, path: str) -> str | None:
        """The SHA-256 (hex) of ``blob(path)``: what a ``path`` pin records."""
        ...

    def exists(self, path: str) -> bool: ...

    def link(self, path: str) -> str | None:
        """The text of the symbolic link at ``path``; None when ``path`` is not one (or is not there)."""
        ...


def join(base: str, target: str) -> str:
    """A reference's repo-relative path: ``target`` taken relative to the folder ``base``."""
    joined = posixpath.normpath(posixpath.join(base, target)) if base else posixpath.normpath(target)
    return "" if joined == "." else joined


# `C:/x` is absolute on Windows and must not be read as a relative path on POSIX.
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
# Links followed before a path is declared a loop (Linux allows 40; a repository needs a handful).
MAX_LINKS = 8
_SPECIAL = frozenset(("", ".", ".."))


def outside(folder: str, target: str) -> str | None:
    """Why ``target``, a path relative to the repository folder ``folder``, names no place in the
    repository (absolute, ``..`` above the root, or inside Git's own ``.git``); None when it is inside."""
    if "\0" in target:
        return "contains a NUL character, which no file name can"
    if target.startswith("/") or _WINDOWS_DRIVE.match(target):
        return "is absolute; paths are relative to the file that names them"
    inside = posixpath.normpath(posixpath.join(folder, target))
    if inside == ".." or inside.startswith("../"):
        return "leaves the repository ('..' climbs above its root)"
    if in_git_dir(inside):
        return "is inside .git, Git's own files (not a file of the repository)"
    return None


def in_git_dir(path: str) -> bool:
    """Whether a repo-relative path goes through a ``.git`` folder (Git never tracks anything there)."""
    return any(part.lower() == ".git" for part in path.split("/"))


@dataclass(frozen=True)
class Followed:
    """Where a path leads in a tree once its symbolic links are followed."""

    path: str  # the repo-relative path with no link left in it (the path asked for when it has none)
    problem: str | None = None  # why it leads nowhere: a link leaving the tree, or a loop
    links: tuple[tuple[str, str], ...] = ()  # (link, its text) in the order they were followed

    @property
    def dangling(self) -> str | None:
        """A description of the last link, for a path that leads to nothing."""
        if not self.links:
            return None
        link, text = self.links[-1]
        return f"symlink {link} -> {text} points at nothing ({self.path} is not there)"


def follow(tree: Tree, path: str) -> Followed:
    """``path`` with every symbolic link in it resolved inside ``tree``, the way the OS resolves links.

    Links are read from the tree itself (a commit, the index or the working tree), each taken relative
    to its own folder; one leaving the repository, one into ``.git`` and a loop are problems.
    """
    parts = path.split("/")
    if not _SPECIAL.intersection(parts):  # the usual path, checked part by part without a stack
        prefix = ""
        for part in parts:
            prefix = f"{prefix}/{part}" if prefix else part
            if tree.link(prefix) is not None:
                break
        else:
            return Followed(path)
    pending = [p for p in reversed(parts) if p not in ("", ".")]  # a stack: the next part is last
    done: list[str] = []
    links: list[tuple[str, str]] = []
    while pending:
        part = pending.pop()
        if part == "..":
            if not done:
                return Followed(path, _leaves(path, links), tuple(links))
            done.pop()
            continue
        current = "/".join((*done, part))
        text = tree.link(current)
        if text is None:
            done.append(part)
            continue
        links.append((current, text))
        if len(links) > MAX_LINKS:
            return Followed(path, f"symlinks loop: more than {MAX_LINKS} followed from {path}", tuple(links))
        if text.startswith("/") or _WINDOWS_DRIVE.match(text):
            return Followed(path, _leaves(path, links), tuple(links))
        pending.extend(reversed([p for p in text.split("/") if p not in ("", ".")]))
    resolved = "/".join(done)
    if in_git_dir(resolved) and not in_git_dir(path):
        return Followed(path, f"symlink {links[-1][0]} -> {links[-1][1]} leads into .git", tuple(links))
    return Followed(resolved, None, tuple(links))


def _leaves(path: str, links: list[tuple[str, str]]) -> str:
    if not links:
        return f"{path} leaves the repository ('..' climbs above its root)"
    link, text = links[-1]
    return f"symlink leaves the repository: {link} -> {text}"
