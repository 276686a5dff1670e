"""Hybrid states: the good version with some of the bad version's changes applied (SPEC §6).

A change is applied per *unit*: a file component (a table with ``path`` or ``dvc``) moves as a whole,
bytes and pin together, so no hybrid ever has a stale pin; any other value moves on its own. The
state a subset builds is known before anything is written (``predict``), which lets ddmin skip states
it has already judged; ``apply`` then writes it into the probe's worktree.
"""

from __future__ import annotations

import copy
import functools
import posixpath
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodelver.core import digest, dvcfiles, manifest
from gitmodelver.core.diff import Change
from gitmodelver.core.diff import join as join_key
from gitmodelver.core.filerefs import Tree, follow, iter_file_refs, join
from gitmodelver.core.semver import LEVELS, level_rank
from gitmodelver.gitstore import fsutil
from gitmodelver.gitstore.system import Snapshot, snapshot
from gitmodelver.gitstore.tree import WorkTree

Key = tuple[str, ...]
_ABSENT = object()


@dataclass(frozen=True)
class Unit:
    """One change ddmin can apply or leave out."""

    key: Key
    changes: tuple[Change, ...]

    @property
    def path(self) -> str:
        return functools.reduce(join_key, self.key, "")

    @property
    def level(self) -> str:
        return LEVELS[max(level_rank(c.level) for c in self.changes)]


def split_path(path: str) -> Key:
    """The keys of a dotted change path; names with dots are quoted (``diff.join``)."""
    keys: list[str] = []
    i = 0
    while i < len(path):
        if path[i] == '"':
            end = path.index('"', i + 1)
            keys.append(path[i + 1 : end])
            i = end + 2
        else:
            end = path.find(".", i)
            end = len(path) if end == -1 else end
            keys.append(path[i:end])
            i = end + 1
    return tuple(keys)


def units(good: Mapping[str, Any], bad: Mapping[str, Any], changes: Iterable[Change]) -> list[Unit]:
    """The changes that shape behaviour, grouped by file component; evaluation and policy are left out."""
    refs = {r.key for data in (good, bad) for r in iter_file_refs(data)}
    grouped: dict[Key, list[Change]] = {}
    for change in changes:
        key = split_path(change.path)
        if key[0] in digest.EXCLUDED_FROM_STATE:
            continue
        owner = next((r for r in refs if key[: len(r)] == r), key)
        grouped.setdefault(owner, []).append(change)
    return [Unit(k, tuple(v)) for k, v in grouped.items()]


def _get(data: Mapping[str, Any], key: Key) -> Any:
    value: Any = data
    for name in key:
        if not isinstance(value, Mapping) or name not in value:
            return _ABSENT
        value = value[name]
    return value


def _put(data: Any, key: Key, value: Any) -> None:
    for name in key[:-1]:
        data = data.setdefault(name, {})
    if value is _ABSENT:
        data.pop(key[-1], None)
    else:
        data[key[-1]] = value


def predict(good: Mapping[str, Any], bad: Mapping[str, Any], chosen: Sequence[Unit]) -> dict[str, Any]:
    """The filled manifest of a hybrid, computed without writing anything (both sides filled)."""
    data: dict[str, Any] = copy.deepcopy(dict(good))
    for unit in chosen:
        value = _get(bad, unit.key)
        _put(data, unit.key, value if value is _ABSENT else copy.deepcopy(value))
    return data


def state(good: Mapping[str, Any], bad: Mapping[str, Any], chosen: Sequence[Unit]) -> str:
    return digest.state_digest(predict(good, bad, chosen))


def apply(worktree: Path, file: str, bad: Snapshot, chosen: Sequence[Unit]) -> str:
    """Write the hybrid into ``worktree`` (already reset to the good version); returns its state digest.

    File components come from the bad version's blobs, values are patched into the manifest with
    tomlkit, and every pin is then recomputed from the files as written, so the digest is the truth.
    """
    import tomlkit

    doc = tomlkit.parse((worktree / file).read_text("utf-8"))
    for unit in chosen:
        _sync(doc, unit.key, _get(bad.manifest.data, unit.key))
        _copy_files(worktree, bad, unit.key)
    text = tomlkit.dumps(doc)
    snap = snapshot(WorkTree(worktree), manifest.parse(text, file, trusted=True))
    fsutil.atomic_write(worktree / file, snap.locked_text().encode("utf-8"))
    return snap.state


def _sync(container: Any, key: Key, new: Any) -> None:
    """Make ``container[key…]`` equal ``new``, editing tables in place so inline tables stay inline."""
    for name in key[:-1]:
        if name not in container:
            container[name] = {}
        container = container[name]
    name = key[-1]
    if new is _ABSENT:
        if name in container:
            del container[name]
        return
    old = container.get(name)
    if isinstance(old, MutableMapping) and isinstance(new, Mapping):
        for gone in [k for k in old if k not in new]:
            del old[gone]
        for sub, value in new.items():
            _sync(old, (sub,), value)
    else:
        container[name] = new


def _copy_files(worktree: Path, bad: Snapshot, key: Key) -> None:
    """The files the bad version's references under ``key`` point at, as the bad version has them."""
    for ref in iter_file_refs(bad.manifest.data):
        if ref.key[: len(key)] != key and key[: len(ref.key)] != ref.key:
            continue
        path = join(bad.manifest.base, ref.target)
        if ref.kind in ("path", "params"):
            # a symlinked prompt is the file it leads to: that is what the bad version changed
            _write(worktree, path, bad.tree.read(follow(bad.tree, path).path))
            continue
        out = dvcfiles.resolve(bad.tree, path)
        if out is None:
            continue
        if out.source.endswith(".dvc"):
            _write(worktree, out.source, bad.tree.read(out.source))
        elif out.stage is not None:
            _patch_lock(worktree, bad.tree, out)


def _write(worktree: Path, path: str, data: bytes | None) -> None:
    if data is None:
        return
    target = worktree / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _patch_lock(worktree: Path, bad: Tree, out: dvcfiles.DvcOut) -> None:
    """Take one output of a ``dvc.lock`` stage from the bad version, leaving the other outputs alone."""
    import yaml

    raw = bad.read(out.source)
    bad_doc = yaml.safe_load(raw) if raw is not None else None
    target = worktree / out.source
    doc = yaml.safe_load(target.read_text("utf-8")) if target.exists() else None
    if not isinstance(bad_doc, dict) or not isinstance(doc, dict):
        _write(worktree, out.source, raw)
        return
    folder = posixpath.dirname(out.source)
    bad_stage = bad_doc["stages"][out.stage]
    entry = next(e for e in bad_stage.get("outs", []) if join(folder, str(e.get("path"))) == out.path)
    stage = doc.setdefault("stages", {}).setdefault(out.stage, {**bad_stage, "outs": []})
    outs = [e for e in stage.get("outs", []) if join(folder, str(e.get("path"))) != out.path]
    stage["outs"] = [*outs, entry]
    target.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
