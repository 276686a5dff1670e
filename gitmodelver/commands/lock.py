from __future__ import annotations

import argparse

from gitmodelver import manifest, output, system
from gitmodelver.commands import open_system
from gitmodelver.errors import UsageError
from gitmodelver.tagmsg import show_value


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    snap = system.worktree_snapshot(repo, sys_)
    if snap.missing:
        pin = snap.missing[0]
        raise UsageError(
            f"{sys_.file}: {pin.ref.dotted} names {pin.repo_path}, which does not exist",
            fix="fix the path or add the file (`dvc add` for weights)",
        )
    changed = snap.stale + [p for p in snap.pins if p.ref.pin is None and p.actual]
    changed = list({p.ref.pin_path: p for p in changed}.values())
    if changed:
        text = manifest.edit(
            snap.manifest.text, {(*p.ref.key, p.ref.pin_field): str(p.actual) for p in changed}
        )
        path = repo.root / sys_.file
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, "utf-8", newline="")
        tmp.replace(path)
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
