"""File references inside a manifest: tables with ``path`` (a Git file) or ``dvc`` (a DVC output), and the
read-only ``Tree`` of repository files they resolve in."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# Sections that describe how we release and deploy; everything else is a component (SPEC §2).
NON_COMPONENTS = frozenset({"system", "policy", "rollout"})


@dataclass(frozen=True)
class FileRef:
    """One file reference: where it sits in the manifest and what it points at."""

    key: tuple[str, ...]  # e.g. ("prompts", "system") or ("retrieval", "index")
    kind: str  # "path" or "dvc"
    target: str  # the path as written, relative to the manifest's folder
    pin: str | None  # the recorded sha256 / md5, if any

    @property
    def dotted(self) -> str:
        return ".".join(self.key)

    @property
    def pin_field(self) -> str:
        return pin_field(self.kind)

    @property
    def pin_path(self) -> str:
        return f"{self.dotted}.{self.pin_field}"


def pin_field(kind: str) -> str:
    return "sha256" if kind == "path" else "md5"


def ref_kind(table: Mapping[str, Any]) -> str | None:
    """The kind of file reference a table is, or None when it is not one."""
    if isinstance(table.get("path"), str):
        return "path"
    if isinstance(table.get("dvc"), str):
        return "dvc"
    return None


def iter_file_refs(data: Mapping[str, Any]) -> Iterator[FileRef]:
    """Every file reference in the components, in document order."""
    for section, value in data.items():
        if section in NON_COMPONENTS or not isinstance(value, Mapping):
            continue
        yield from _walk(value, (section,))


def _walk(table: Mapping[str, Any], key: tuple[str, ...]) -> Iterator[FileRef]:
    kind = ref_kind(table)
    if kind is not None:
        pin = table.get(pin_field(kind))
        yield FileRef(key, kind, table[kind], pin if isinstance(pin, str) else None)
        return
    for name, value in table.items():
        if isinstance(value, Mapping):
            yield from _walk(value, (*key, name))


class Tree(Protocol):
    """A read-only view of repository files by repo-relative POSIX path."""

    label: str

    def read(self, path: str) -> bytes | None: ...

    def blob(self, path: str) -> bytes | None:
        """The bytes Git stores (or would store) for ``path``: what pins of ``path`` references hash."""
        ...

    def exists(self, path: str) -> bool: ...


def join(base: str, target: str) -> str:
    """A reference's repo-relative path: ``target`` taken relative to the folder ``base``."""
    joined = posixpath.normpath(posixpath.join(base, target)) if base else posixpath.normpath(target)
    return "" if joined == "." else joined
