"""DVC pointer files and dvc.lock read as YAML, so pins never import DVC itself."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gitmodelver.tree import Tree, join


@dataclass(frozen=True)
class DvcOut:
    path: str  # repo-relative path of the output
    md5: str  # DVC's md5; directories keep the "….dir" form
    size: int | None
    nfiles: int | None
    source: str  # the .dvc file or dvc.lock that records it
    stage: str | None = None  # the dvc.lock stage that produces it


def _yaml(data: bytes) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(data, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return None


def _out(entry: Any, folder: str, source: str, stage: str | None = None) -> DvcOut | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return None
    md5 = entry.get("md5")
    if not isinstance(md5, str):
        return None
    return DvcOut(join(folder, entry["path"]), md5, entry.get("size"), entry.get("nfiles"), source, stage)


def pointer_outs(tree: Tree, pointer: str) -> list[DvcOut]:
    """The outputs a ``.dvc`` pointer file records (usually one)."""
    raw = tree.read(pointer)
    doc = _yaml(raw) if raw is not None else None
    if not isinstance(doc, dict):
        return []
    folder = posixpath.dirname(pointer)
    outs = doc.get("outs")
    if not isinstance(outs, list):  # hand-edited or not a pointer at all: it records nothing
        return []
    return [o for o in (_out(e, folder, pointer) for e in outs) if o is not None]


def lock_outs(tree: Tree, lockfile: str) -> Iterator[DvcOut]:
    raw = tree.read(lockfile)
    doc = _yaml(raw) if raw is not None else None
    if not isinstance(doc, dict) or not isinstance(doc.get("stages"), dict):
        return
    folder = posixpath.dirname(lockfile)
    for stage, body in doc["stages"].items():
        outs = body.get("outs") if isinstance(body, dict) else None
        for entry in outs if isinstance(outs, list) else []:
            out = _out(entry, folder, lockfile, str(stage))
            if out is not None:
                yield out


def lock_stages(tree: Tree, lockfile: str) -> dict[str, Any]:
    raw = tree.read(lockfile)
    doc = _yaml(raw) if raw is not None else None
    stages = doc.get("stages") if isinstance(doc, dict) else None
    return stages if isinstance(stages, dict) else {}


def _ancestors(path: str) -> Iterator[str]:
    folder = posixpath.dirname(path)
    while True:
        yield folder
        if not folder:
            return
        folder = posixpath.dirname(folder)


def resolve(tree: Tree, path: str) -> DvcOut | None:
    """The DVC output a ``dvc`` reference names: a pointer file, ``path.dvc`` or a dvc.lock output."""
    if path.endswith(".dvc"):
        outs = pointer_outs(tree, path)
        return outs[0] if outs else None
    if tree.exists(path + ".dvc"):
        outs = pointer_outs(tree, path + ".dvc")
        if outs:
            return outs[0]
    for folder in _ancestors(path):
        lockfile = join(folder, "dvc.lock")
        for out in lock_outs(tree, lockfile):
            if out.path == path:
                return out
    return None
