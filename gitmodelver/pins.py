"""Pins: the sha256 of Git files and the md5 DVC recorded, compared with what the manifest says."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitmodelver import dvcfiles
from gitmodelver.refs import FileRef, iter_file_refs
from gitmodelver.tree import Tree, join


@dataclass(frozen=True)
class Pin:
    ref: FileRef
    repo_path: str  # where the reference points, relative to the repository root
    actual: str | None  # None when the file or the DVC record is missing

    @property
    def missing(self) -> bool:
        return self.actual is None

    @property
    def stale(self) -> bool:
        return self.actual is not None and self.ref.pin != self.actual


def actual_pin(tree: Tree, kind: str, repo_path: str) -> str | None:
    if kind == "path":
        data = tree.read(repo_path)
        return hashlib.sha256(data).hexdigest() if data is not None else None
    out = dvcfiles.resolve(tree, repo_path)
    return out.md5 if out is not None else None


def compute(data: Mapping[str, Any], tree: Tree, base: str) -> list[Pin]:
    """The current pin of every file reference, read from ``tree``; ``base`` is the manifest's folder."""
    pins = []
    for ref in iter_file_refs(data):
        path = join(base, ref.target)
        pins.append(Pin(ref, path, actual_pin(tree, ref.kind, path)))
    return pins


def filled(data: Mapping[str, Any], pins: Iterable[Pin]) -> dict[str, Any]:
    """A copy of ``data`` with every available pin set to its actual value."""
    result: dict[str, Any] = copy.deepcopy(dict(data))
    for pin in pins:
        if pin.actual is None:
            continue
        table = result
        for name in pin.ref.key:
            table = table[name]
        table[pin.ref.pin_field] = pin.actual
    return result
