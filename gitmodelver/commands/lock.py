from __future__ import annotations

import argparse

from gitmodelver import output
from gitmodelver.commands import open_system
from gitmodelver.core import pins
from gitmodelver.errors import UsageError
from gitmodelver.gitstore import fsutil, system
from gitmodelver.gitstore.tagmsg import show_value


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    snap = system.worktree_snapshot(repo, sys_)
    if snap.missing:
        raise UsageError(pins.missing_message(sys_.file, snap.missing[0]), fix=pins.MISSING_FIX)
    changed = pins.to_lock(snap.pins)
    if changed:
        fsutil.atomic_write(repo.root / sys_.file, snap.locked_text().encode("utf-8"))
    if args.json:
        output.emit_json(
            {"changed": [{"path": p.ref.pin_path, "old": p.ref.pin, "new": p.actual} for p in changed]}
        )
        return 0
    for p in changed:
        output.say(f"{p.ref.pin_path}: {show_value(p.ref.pin)} -> {show_value(p.actual)}")
    if not changed:
        output.say(f"{sys_.file}: every pin is current")
    return 0
