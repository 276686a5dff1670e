"""Pins: the sha256 of Git files and the md5 DVC recorded, compared with what the manifest says."""

from __future__ import annotations

import copy
import math
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitmodelver.core import manifest, validate
from gitmodelver.core.filerefs import FileRef, Tree, follow, iter_file_refs, join


@dataclass(frozen=True)
class Pin:
    ref: FileRef
    repo_path: str  # where the reference points, relative to the repository root
    actual: Any  # sha256 / md5 (str) or params values (dict); None when the file or record is missing
    why: str | None = None  # for a missing file or DVC record: what is wrong with it
    file: str = ""  # the file whose bytes a `path` pin hashes: repo_path, or where its symlinks lead

    @property
    def missing(self) -> bool:
        return self.actual is None

    @property
    def stale(self) -> bool:
        return self.actual is not None and self.ref.pin != self.actual


def actual_pin(tree: Tree, kind: str, repo_path: str) -> str | None:
    if kind == "path":
        return file_pin(tree, repo_path)[0]
    from gitmodelver.core import dvcfiles  # DVC's files: not for a hook checking prompts

    out = dvcfiles.resolve(tree, repo_path)
    return out.md5 if out is not None else None


def file_pin(tree: Tree, repo_path: str) -> tuple[str | None, str | None, str]:
    """``(sha256, why it is missing, the file hashed)`` for a ``path`` reference.

    A prompt is what a symlink leads to: a link is followed inside ``tree`` and its target's blob (the
    blob git stores, as verify and the hooks hash it) is pinned, so an edit of the target is an edit of
    the prompt. A link leaving the repository, a loop or a dangling link pins nothing and says why.
    """
    followed = follow(tree, repo_path)
    if followed.problem is not None:
        return None, followed.problem, followed.path
    digest = tree.sha256(followed.path)
    if digest is None:
        return None, followed.dangling, followed.path
    return digest, None, followed.path


def params_pin(
    tree: Tree, path: str, keys: tuple[str, ...] | None, room: int = validate.MAX_DEPTH
) -> tuple[dict[str, Any] | None, str | None]:
    """``(values, why they are missing)`` of a ``params`` reference: the keys it names, as the file has
    them now (nested as in the file). Every key must be there: a key gone from the file is no value.
    The values are written into the manifest, so they must be TOML a manifest can hold, ``room`` levels
    deep at most (what is left of the manifest's depth limit below the reference)."""
    from gitmodelver.core import pipeline  # params files: not for a hook checking prompts

    doc = pipeline.read_params(tree, path)
    if doc is None:
        return None, "no params file DVC can read there (YAML, JSON or TOML)" if tree.exists(path) else None
    gone = [k for k in keys or () if pipeline.lookup(doc, k) is pipeline.MISSING]
    if gone:
        return None, f"{path} has no {', '.join(gone)}"
    values = pipeline.select(doc, list(keys) if keys is not None else None)
    problem = _unpinnable(values, room)
    return (None, f"{path}: {problem}; name keys that a manifest can pin") if problem else (values, None)


def _unpinnable(value: Any, room: int, where: str = "") -> str | None:
    """Why ``value`` cannot be written into the manifest as TOML, if it cannot (checked without recursion
    limits of its own: ``room`` bounds the depth)."""
    if room < 0:
        return f"{where or 'the values'} nest deeper than the manifest allows"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"key {key!r} is not text"
            problem = _unpinnable(item, room - 1, f"{where}.{key}" if where else key)
            if problem:
                return problem
        return None
    if isinstance(value, list):
        return next((p for item in value if (p := _unpinnable(item, room - 1, where))), None)
    if value is None:
        return f"{where} is null, which TOML cannot hold"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is {value}, which a manifest cannot hold"
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return f"{where} is outside TOML's 64-bit integers"
    return None


def compute(data: Mapping[str, Any], tree: Tree, base: str) -> list[Pin]:
    """The current pin of every file reference, read from ``tree``; ``base`` is the manifest's folder."""
    pins = []
    for ref in iter_file_refs(data):
        path = join(base, ref.target)
        if ref.kind == "path":
            actual, why, file = file_pin(tree, path)
            pins.append(Pin(ref, path, actual, why, file))
            continue
        if ref.kind == "params":
            values, why = params_pin(tree, path, ref.keys, validate.MAX_DEPTH - len(ref.key) - 1)
            pins.append(Pin(ref, path, values, why, path))
            continue
        actual = actual_pin(tree, ref.kind, path)
        why = _explain(tree, path) if actual is None else None
        pins.append(Pin(ref, path, actual, why, path))
    return pins


def _explain(tree: Tree, path: str) -> str | None:
    from gitmodelver.core import dvcfiles

    return dvcfiles.explain(tree, path)


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
    changes = {
        (*p.ref.key, p.ref.pin_field): p.actual if isinstance(p.actual, dict) else str(p.actual)
        for p in to_lock(pins)
    }
    if not changes and version is None:
        return m.text
    return manifest.edit(m.text, changes, version)


def missing_message(file: str, pin: Pin) -> str:
    """One line for a reference to nothing (``missing_help`` adds what to do)."""
    if pin.why:
        return f"{file}: {pin.ref.dotted} names {pin.repo_path}: {pin.why}"
    return f"{file}: {pin.ref.dotted} names {pin.repo_path}, which does not exist"


def missing_help(file: str, pin: Pin, committed: bool) -> tuple[str, str | None]:
    """``(message, fix)`` for a reference to nothing; ``committed``: HEAD holds the file.

    A file HEAD holds was deleted since: restoring it is one command. Otherwise the manifest or the
    files must change, which no one command can do for the user, so the message says how.
    """
    drop = f"or remove {pin.ref.dotted} from {file}"
    if committed and not pin.why:
        deleted = f"{missing_message(file, pin)} (HEAD has it: deleted since)"
        return f"{deleted}: restore it, {drop}", f"git checkout HEAD -- {shlex.quote(pin.repo_path)}"
    add = "`dvc add` the weights" if pin.ref.kind == "dvc" else "add the file"
    return f"{missing_message(file, pin)}: fix the path, {add}, {drop}", None
