"""Pins: the sha256 of Git files and the md5 DVC recorded, compared with what the manifest says."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitmodelver.core import dvcfiles, manifest
from gitmodelver.core.filerefs import FileRef, Tree, iter_file_refs, join

MISSING_FIX = "fix the path or add the file (`dvc add` for weights)"


@dataclass(frozen=True)
class Pin:
    ref: FileRef
    repo_path: str  # where the reference points, relative to the repository root
    actual: str | None  # None when the file or the DVC record is missing
    why: str | None = None  # for a missing DVC record: what is wrong with it

    @property
    def missing(self) -> bool:
        return self.actual is None

    @property
    def stale(self) -> bool:
        return self.actual is not None and self.ref.pin != self.actual


def actual_pin(tree: Tree, kind: str, repo_path: str) -> str | None:
    if kind == "path":
        data = tree.blob(repo_path)  # the blob git stores, as verify and the hooks hash it
        return hashlib.sha256(data).hexdigest() if data is not None else None
    out = dvcfiles.resolve(tree, repo_path)
    return out.md5 if out is not None else None


def compute(data: Mapping[str, Any], tree: Tree, base: str) -> list[Pin]:
    """The current pin of every file reference, read from ``tree``; ``base`` is the manifest's folder."""
    pins = []
    for ref in iter_file_refs(data):
        path = join(base, ref.target)
        actual = actual_pin(tree, ref.kind, path)
        why = dvcfiles.explain(tree, path) if actual is None and ref.kind == "dvc" else None
        pins.append(Pin(ref, path, actual, why))
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


def to_lock(pins: Iterable[Pin]) -> list[Pin]:
    """The pins ``lock`` writes: those whose file is there and whose recorded value is absent or stale."""
    return [p for p in pins if p.actual is not None and p.ref.pin != p.actual]


def locked_text(m: manifest.Manifest, pins: Iterable[Pin], version: str | None = None) -> str:
    """The manifest's text with every pin current (and ``system.version`` set, when given).

    Only what changes is rewritten (with tomlkit), so comments and layout survive; a manifest that is
    already locked comes back unchanged.
    """
    changes = {(*p.ref.key, p.ref.pin_field): str(p.actual) for p in to_lock(pins)}
    if not changes and version is None:
        return m.text
    return manifest.edit(m.text, changes, version)


def missing_message(file: str, pin: Pin) -> str:
    """One line for a reference to nothing; its fix is ``MISSING_FIX``."""
    if pin.why:
        return f"{file}: {pin.ref.dotted} names {pin.repo_path}: {pin.why}"
    return f"{file}: {pin.ref.dotted} names {pin.repo_path}, which does not exist"
