"""``lock``: re-pin every file reference, and put back a ``system.version`` changed by hand (only
``release`` writes it: see ``gitstore.released``); prints what changed."""

from __future__ import annotations

import argparse
from typing import Any

from gitmodelver import output
from gitmodelver.commands._arguments import open_system
from gitmodelver.core import pins
from gitmodelver.core.manifest import version_of
from gitmodelver.errors import UsageError
from gitmodelver.gitstore import fsutil, released, system
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.tagmsg import show_value


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    snap = system.worktree_snapshot(repo, sys_)
    if snap.missing:
        pin = snap.missing[0]
        message, fix = pins.missing_help(sys_.file, pin, in_head(repo, pin.repo_path))
        raise UsageError(message, fix=fix)
    changed = pins.to_lock(snap.pins)
    rows = [(p.ref.pin_path, p.ref.pin, p.actual) for p in changed]
    # `release` alone writes system.version; a hand edit of it goes back to the last release's.
    have = snap.manifest.version
    want = released.restored(repo, sys_.name, _committed_version(repo, sys_.file), have)
    if want != have:
        rows.append(("system.version", have, want))
    if rows:
        fsutil.atomic_write(repo.root / sys_.file, _locked_text(snap, have, want).encode("utf-8"))
    if args.json:
        output.emit_json({"changed": [{"path": path, "old": old, "new": new} for path, old, new in rows]})
        return 0
    for path, old, new in rows:
        output.say(f"{path}: {show_value(old)} -> {show_value(new)}")
    if not rows:
        output.say(f"{sys_.file}: every pin is current")
    return 0


def _locked_text(snap: system.Snapshot, have: str | None, want: str | None) -> str:
    if want == have:
        return snap.locked_text()
    if want is not None:
        return snap.locked_text(want)
    import tomlkit  # only to remove a version written by hand

    doc: Any = tomlkit.parse(snap.locked_text())
    del doc["system"]["version"]
    return tomlkit.dumps(doc)


def in_head(repo: Repo, path: str) -> bool:
    """Whether HEAD holds ``path``: a file gone from the working tree can then be restored."""
    head = repo.head()
    try:
        return head is not None and head.tree[path] is not None
    except KeyError:
        return False


def _committed_version(repo: Repo, file: str) -> str | None:
    """``system.version`` as HEAD's manifest says it (None: no such manifest, or no version)."""
    head = repo.head()
    if head is None:
        return None
    return version_of(system.read_toml(repo.commit_tree(head, "HEAD").read(file)))
