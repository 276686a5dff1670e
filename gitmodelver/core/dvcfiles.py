"""DVC pointer files and dvc.lock read as YAML, so pins never import DVC itself."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gitmodelver.core.filerefs import Tree, follow, join, outside
from gitmodelver.errors import UsageError


@dataclass(frozen=True)
class DvcOut:
    path: str  # repo-relative path of the output
    md5: str  # DVC's md5; directories keep the "….dir" form
    size: int | None
    nfiles: int | None
    source: str  # the .dvc file or dvc.lock that records it
    stage: str | None = None  # the dvc.lock stage that produces it


def parse_yaml(data: bytes, *, numbers_as_text: bool = True) -> Any:
    try:
        return _parse(data, numbers_as_text=numbers_as_text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1)
def _loader() -> Any:
    """A safe loader that reads numbers as strings: an md5 such as 0123…7 must not become an int
    (YAML 1.1 would even read it as octal). Sizes are converted where they are used."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    resolvers = {
        first: [(tag, regexp) for tag, regexp in entries if tag not in _NUMBER_TAGS]
        for first, entries in base.yaml_implicit_resolvers.items()
    }
    return type("TextNumbersLoader", (base,), {"yaml_implicit_resolvers": resolvers})


_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _parse(data: bytes, *, numbers_as_text: bool = True) -> Any:
    """The YAML document; ValueError says what is wrong with it."""
    import yaml

    loader = _loader() if numbers_as_text else getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(data, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ValueError(f"{where}{getattr(exc, 'problem', None) or exc}") from exc
    except RecursionError as exc:
        raise ValueError("nested too deeply to read") from exc


def _out(entry: Any, folder: str, source: str, stage: str | None = None) -> DvcOut | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return None
    md5 = entry.get("md5")
    if not isinstance(md5, str):
        return None
    path = inside(folder, entry["path"], source, "output path")
    return DvcOut(path, md5, _int(entry.get("size")), _int(entry.get("nfiles")), source, stage)


def inside(folder: str, path: str, source: str, what: str) -> str:
    """``path`` (relative to ``folder``) as a repo-relative path; UsageError when it leaves the repository.

    DVC writes what it is told; a pointer or dvc.lock naming ``../../x`` or ``/etc/x`` would have us pin,
    check out and hash files outside the repository (SPEC §2: every path a DVC file names stays inside).
    """
    problem = outside(folder, path)
    if problem is not None:
        raise UsageError(
            f"{source}: {what} '{path}' {problem}: DVC outputs are paths inside the repository, relative "
            f"to {source}'s folder"
        )
    return join(folder, path)


def pointer_folder(doc: Mapping[str, Any], pointer: str) -> str:
    """The folder a pointer's output paths are relative to: its own, or its ``wdir`` from there."""
    folder = posixpath.dirname(pointer)
    wdir = doc.get("wdir")
    return inside(folder, wdir, pointer, "wdir") if isinstance(wdir, str) and wdir else folder


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def pointer_outs(tree: Tree, pointer: str) -> list[DvcOut]:
    """The outputs a ``.dvc`` pointer file records (usually one)."""
    raw = tree.read(pointer)
    doc = parse_yaml(raw) if raw is not None else None
    if not isinstance(doc, dict):
        return []
    folder = pointer_folder(doc, pointer)
    outs = doc.get("outs")
    if not isinstance(outs, list):  # hand-edited or not a pointer at all: it records nothing
        return []
    return [o for o in (_out(e, folder, pointer) for e in outs) if o is not None]


def lock_outs(tree: Tree, lockfile: str) -> list[DvcOut]:
    """Every output a dvc.lock records; one whose path leaves the repository refuses the whole file."""
    raw = tree.read(lockfile)
    doc = parse_yaml(raw) if raw is not None else None
    if not isinstance(doc, dict) or not isinstance(doc.get("stages"), dict):
        return []
    folder = posixpath.dirname(lockfile)
    found = []
    for stage, body in doc["stages"].items():
        outs = body.get("outs") if isinstance(body, dict) else None
        for entry in outs if isinstance(outs, list) else []:
            out = _out(entry, folder, lockfile, str(stage))
            if out is not None:
                found.append(out)
    return found


def lock_stages(tree: Tree, lockfile: str) -> dict[str, Any]:
    """The stages as DVC recorded them; params keep their YAML types (they are compared with params files)."""
    raw = tree.read(lockfile)
    doc = parse_yaml(raw, numbers_as_text=False) if raw is not None else None
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
        return _within(tree, outs[0]) if outs else None
    if tree.exists(path + ".dvc"):
        outs = pointer_outs(tree, path + ".dvc")
        if outs:
            return _within(tree, outs[0])
    for folder in _ancestors(path):
        lockfile = join(folder, "dvc.lock")
        for out in lock_outs(tree, lockfile):
            if out.path == path:
                return _within(tree, out)
    return None


def _within(tree: Tree, out: DvcOut) -> DvcOut:
    """``out``, once the folders on its way are known not to be symlinks out of the repository.

    The output itself may be a link (DVC's ``cache.type = symlink`` links it into the cache, wherever
    that is); a folder above it that leaves would make DVC write, and us hash, outside the repository.
    """
    folder = posixpath.dirname(out.path)
    problem = follow(tree, folder).problem if folder else None
    if problem is not None:
        raise UsageError(
            f"{out.source}: output path '{out.path}': {problem}; DVC outputs must stay inside the "
            "repository: replace the symlinked folder by a real one"
        )
    return out


def explain(tree: Tree, path: str) -> str:
    """Why ``resolve`` finds no DVC output for ``path``: one line for the user."""
    pointer = path if path.endswith(".dvc") else path + ".dvc"
    raw = tree.read(pointer)
    if raw is None:
        if path.endswith(".dvc"):
            return "no such file"
        return f"neither {pointer} nor a dvc.lock stage records it (track it with `dvc add {path}`)"
    try:
        _parse(raw)
    except ValueError as exc:
        return f"{pointer} is not valid YAML ({exc})"
    if not pointer_outs(tree, pointer):
        return f"{pointer} records no output with a path and an md5 (is it a DVC pointer file?)"
    return f"{pointer} records no output"  # unreachable in practice: resolve would have found it
