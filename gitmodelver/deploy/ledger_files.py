"""The files that hold an environment's events in a ledger commit, and the tree an append writes.

Listing reads trees only, never a blob: the folder ``events/<env>/`` has one entry per shard, so finding
the last shard, or the one a time falls in, costs a few small tree reads however long the history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pygit2

from gitmodelver.deploy import shards
from gitmodelver.deploy.ledger_rules import Problem

BLOB = pygit2.enums.FileMode.BLOB
TREE = pygit2.enums.FileMode.TREE


@dataclass(frozen=True)
class File:
    """One file of an environment's events: a shard, or the single file an older version wrote."""

    path: str
    oid: pygit2.Oid
    first: int | None  # the seq its name says it starts at; None for an older version's file


@dataclass(frozen=True)
class Listing:
    """An environment's events files in seq order, and what has no place among them."""

    env: str
    files: tuple[File, ...] = ()
    problems: tuple[Problem, ...] = ()
    key: str = ""  # the environment and the ids of its folder and file: equal keys, equal contents

    @property
    def place(self) -> str:
        """Where the environment's events are: its shard folder, or an older version's single file."""
        return shards.legacy_path(self.env) if self.legacy is not None else shards.folder_of(self.env) + "/"

    @property
    def legacy(self) -> File | None:
        """The older version's single file, when that is how the environment is kept."""
        return self.files[0] if len(self.files) == 1 and self.files[0].first is None else None


def _entry(tree: pygit2.Tree | None, name: str, mode: int) -> pygit2.Object | None:
    """The entry ``name`` of ``tree`` when it has ``mode`` (pygit2 reads its content only when asked)."""
    if tree is None or name not in tree:
        return None
    entry = tree[name]
    return entry if entry.filemode == mode else None


def events_tree(tree: pygit2.Tree | None) -> pygit2.Tree | None:
    found = _entry(tree, shards.FOLDER, TREE)
    return found if isinstance(found, pygit2.Tree) else None


def listing(tree: pygit2.Tree | None, env: str) -> Listing:
    """Where ``env``'s events are in the ledger tree ``tree`` (None: no ledger yet)."""
    events = events_tree(tree)
    legacy = _entry(events, f"{env}.jsonl", BLOB)
    folder = _entry(events, env, TREE)
    if not isinstance(folder, pygit2.Tree):
        if legacy is None:
            return Listing(env, key=f"{env}:")
        return Listing(env, (File(shards.legacy_path(env), legacy.id, None),), key=f"{env}:{legacy.id}")
    files, problems = _shards(env, folder)
    key = f"{env}:{folder.id}"
    if legacy is not None:
        key += f"+{legacy.id}"
        both = f"{shards.legacy_path(env)} and {shards.folder_of(env)}/"
        what = (
            f"both hold {env}'s events: an environment is kept either in one file (by an older version) "
            "or in a folder of shards, never both"
        )
        problems.insert(0, Problem(both, 0, what))
    return Listing(env, tuple(files), tuple(problems), key)


def _shards(env: str, folder: pygit2.Tree) -> tuple[list[File], list[Problem]]:
    files, problems = [], []
    for entry in folder:
        path = f"{shards.folder_of(env)}/{entry.name}"
        first = shards.number(str(entry.name))
        if first is None or entry.filemode != BLOB:
            what = (
                "no shard of the ledger: a shard is a file named after its first event's seq (00000001.jsonl)"
            )
            problems.append(Problem(path, 0, what))
        else:
            files.append(File(path, entry.id, first))
    files.sort(key=lambda f: f.first or 0)
    return files, problems


def envs(tree: pygit2.Tree | None) -> list[str]:
    """Every environment with events, whichever way it is kept."""
    events = events_tree(tree)
    found = set()
    for entry in events or ():
        name = str(entry.name)
        if entry.filemode == BLOB and name.endswith(".jsonl"):
            name = name.removesuffix(".jsonl")
        elif entry.filemode != TREE:
            continue
        if shards.where(f"{shards.FOLDER}/{name}.jsonl") is not None:
            found.add(name)
    return sorted(found)


def written(
    repo: pygit2.Repository, tree: pygit2.Tree | None, env: str, blobs: Mapping[int, pygit2.Oid]
) -> pygit2.Oid:
    """The ledger tree ``tree`` with ``blobs`` (first seq -> blob) as ``env``'s shards, added or replacing
    those of the same name, and the older version's single file gone (moved into them)."""
    events = events_tree(tree)
    folder = _entry(events, env, TREE)
    shelf = repo.TreeBuilder(folder) if isinstance(folder, pygit2.Tree) else repo.TreeBuilder()
    for first, blob in blobs.items():
        shelf.insert(shards.name_of(first), blob, BLOB)
    top = repo.TreeBuilder(events) if events is not None else repo.TreeBuilder()
    if events is not None and f"{env}.jsonl" in events:
        top.remove(f"{env}.jsonl")
    top.insert(env, shelf.write(), TREE)
    root = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    root.insert(shards.FOLDER, top.write(), TREE)
    return root.write()
